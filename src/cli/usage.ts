// A command line sluice cannot run is refused in one line on stderr, exit 1 (analyze: 2),
// never with a stack trace or a screen of help: `sluice demo: --pods: must be a whole number
// from 1 to 64, got "0"`. Every command is a SluiceCommand, so commander's own refusals (an
// unknown option, a missing value, a bad value from a flags.ts parser) and the rules between
// flags (a flag that means nothing with the others given) all print that way.
import { Command, Option, type ErrorOptions, type OptionValues } from "commander";
import { oneOf } from "./flags.js";

/**
 * A rule between a command's flags, checked once they are read and before the command runs:
 * why the combination is refused, or undefined. `given(key)` says whether the flag was on the
 * command line (its default does not count).
 */
export type FlagRule = (opts: OptionValues, given: (key: string) => boolean) => string | undefined;

export class SluiceCommand extends Command {
  private readonly rules: FlagRule[] = [];

  override createCommand(name?: string): SluiceCommand {
    return new SluiceCommand(name);
  }

  /** Refuses the command line when `rule` says why: a flag that means nothing with the others given is an error, not silently ignored. */
  rule(rule: FlagRule): this {
    if (this.rules.length === 0) this.hook("preAction", () => this.checkRules());
    this.rules.push(rule);
    return this;
  }

  /** The common rule: `flag` (option key `key`) applies only when `holds`, which `condition` words ("with --xds"). */
  onlyWhen(key: string, flag: string, condition: string, holds: (opts: OptionValues) => boolean): this {
    return this.rule((opts, given) => (given(key) && !holds(opts) ? `${flag} only applies ${condition}` : undefined));
  }

  override error(message: string, errorOptions?: ErrorOptions): never {
    return super.error(usageLine(this.path(), message), errorOptions);
  }

  private checkRules(): void {
    const opts = this.opts();
    const given = (key: string): boolean => {
      const source = this.getOptionValueSource(key);
      return source === "cli" || source === "env";
    };
    for (const rule of this.rules) {
      const why = rule(opts, given);
      if (why !== undefined) this.error(why, { code: "sluice.usage" });
    }
  }

  /** "sluice demo", or "sluice" for the program itself. */
  private path(): string {
    return this.parent === null ? this.name() : `${this.parent.name()} ${this.name()}`;
  }
}

/** An option whose value is one of `values` (listed in --help), refused in sluice's words otherwise. */
export function choiceOption<const T extends string>(flags: string, description: string, values: readonly T[]): Option {
  // choices() shows them in --help; the parser after it replaces commander's message.
  return new Option(flags, description).choices(values).argParser(oneOf(values));
}

/**
 * The one line for a refused command line. Commander words a bad value as "error: option
 * '--pods <n>' argument '0' is invalid. <reason>"; it becomes "--pods: <reason>, got "0"".
 * Its other messages keep their words, on one line.
 */
export function usageLine(command: string, message: string): string {
  const text = message.replace(/^error: /, "");
  const invalid = /^option '([^']*)' argument '([\s\S]*)' is invalid\. ([\s\S]*)$/.exec(text);
  const body = invalid === null ? text : `${longFlag(invalid[1] ?? "")}: ${invalid[3] ?? ""}, got ${JSON.stringify(invalid[2] ?? "")}`;
  return `${command}: ${body.trim().replace(/\s*\n\s*/g, " ")}`;
}

/** "--config" from "-c, --config <file>". */
function longFlag(flags: string): string {
  return /--[\w-]+/.exec(flags)?.[0] ?? flags;
}
