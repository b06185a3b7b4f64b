"""The language server (`dqmc lsp`): the server, its index of names, hovers and completion."""
