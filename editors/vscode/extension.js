// DQM policies for VS Code: starts `dqmc lsp` for .dqm files and YAML policy specs.
// Highlighting (syntaxes/) and the YAML schema (schemas/) are contributed in package.json.
"use strict";

const path = require("path");
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverCommand() {
  const configured = vscode.workspace.getConfiguration("dqm").get("server.command", ["dqmc", "lsp"]);
  const [program, ...args] = configured;
  const folder = vscode.workspace.workspaceFolders && vscode.workspace.workspaceFolders[0];
  // A relative program such as .venv/bin/dqmc means the project's own install.
  const resolved = folder && program.includes("/") && !path.isAbsolute(program)
    ? path.join(folder.uri.fsPath, program)
    : program;
  return { command: resolved, args, transport: TransportKind.stdio };
}

function activate(context) {
  const yamlSpecs = vscode.workspace.getConfiguration("dqm").get("yamlSpecs");
  client = new LanguageClient(
    "dqmc",
    "dqmc language server",
    serverCommand(),
    {
      documentSelector: [
        { scheme: "file", language: "dqm" },
        { scheme: "untitled", language: "dqm" },
        { scheme: "file", language: "yaml", pattern: yamlSpecs },
      ],
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
