// `sluice demo -c FILE` checks the file as it was given, before the demo points it at its
// own pods: the problems carry the file's own line numbers (the very lines `sluice
// validate` prints), broken YAML is said to be invalid YAML, a missing file is one clean
// line; nothing starts, exit 1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli, tempFile } from "../support/cli.js";

async function refusedAsValidateSays(file: string): Promise<string[]> {
  const demo = await runCli(["demo", "-c", file, "--duration", "1"]);
  assert.equal(demo.code, 1, demo.stderr);
  assert.equal(demo.stdout, "", "nothing started");
  assert.doesNotMatch(demo.stderr, /^ {4}at /m, "no stack trace");
  const validate = await runCli(["validate", file]);
  assert.equal(validate.code, 1);
  const problems = validate.stderr.split("\n").filter((l) => l.startsWith(file));
  assert.ok(problems.length > 0);
  assert.deepEqual(
    demo.stderr.split("\n").filter((l) => l !== ""),
    problems,
    "the demo prints the problems validate prints, at the same lines",
  );
  return problems;
}

test("demo -c with a field that is wrong: its problem at the file's own line, as validate prints it", async () => {
  const file = tempFile(
    "bad-policy.yaml",
    [
      "apiVersion: networking.istio.io/v1",
      "kind: ServiceEntry",
      "metadata: { name: grpc-service }",
      "spec:",
      "  hosts: [grpc-service]",
      "  ports: [{ number: 50051, name: grpc, protocol: GRPC }]",
      "  resolution: STATIC",
      "  endpoints: [{ address: 127.0.0.1, ports: { grpc: 50061 } }]",
      "---",
      "apiVersion: networking.istio.io/v1",
      "kind: DestinationRule",
      "metadata: { name: grpc-service }",
      "spec:",
      "  host: grpc-service",
      "  trafficPolicy:",
      "    loadBalancer:",
      "      simple: FASTEST",
      "",
    ].join("\n"),
  );
  const [problem] = await refusedAsValidateSays(file);
  assert.match(problem!, /bad-policy\.yaml:17 spec\.trafficPolicy\.loadBalancer\.simple: must be one of .*, got "FASTEST"$/);
});

test("demo -c with broken YAML: invalid YAML, at its line", async () => {
  const file = tempFile("broken.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nspec: [\n  host: : x\n");
  const problems = await refusedAsValidateSays(file);
  assert.ok(
    problems.every((p) => /broken\.yaml:\d+: invalid YAML: /.test(p)),
    problems.join("\n"),
  );
});

test("demo -c with a file that does not exist: one line, exit 1", async () => {
  const r = await runCli(["demo", "-c", "/nonexistent/sluice.yaml"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, "/nonexistent/sluice.yaml: cannot read file: no such file\n");
  assert.equal(r.stdout, "");
});
