// Parse AsyncAPI documents with the official parser.
// Usage: node validate.mjs FILE...
// Prints one JSON report per file on stdout ({file, errors, warnings,
// messages, operations}); exits 1 if any file has an error-level
// diagnostic or does not parse.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;

function describe(diagnostic) {
  return {
    code: diagnostic.code,
    message: diagnostic.message,
    path: diagnostic.path.join("."),
  };
}

for (const file of process.argv.slice(2)) {
  const text = await readFile(file, "utf8");
  const { document, diagnostics } = await parser.parse(text, { source: file });
  const errors = diagnostics.filter(
    (d) => d.severity === DiagnosticSeverity.Error,
  );
  const warnings = diagnostics.filter(
    (d) => d.severity === DiagnosticSeverity.Warning,
  );
  const report = {
    file,
    errors: errors.map(describe),
    warnings: warnings.map(describe),
    messages: [],
    operations: [],
  };
  if (document === undefined || errors.length > 0) {
    failed = true;
  } else {
    report.messages = document
      .allMessages()
      .all()
      .map((message) => ({ id: message.id(), name: message.name() }));
    report.operations = document
      .allOperations()
      .all()
      .map((operation) => ({
        id: operation.id(),
        action: operation.action(),
        messages: operation
          .messages()
          .all()
          .map((message) => message.name()),
      }));
  }
  console.log(JSON.stringify(report));
}
if (process.argv.length < 3) {
  console.error("usage: node validate.mjs FILE...");
  failed = true;
}
process.exit(failed ? 1 : 0);
