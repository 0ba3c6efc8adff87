complete --keep-order --exclusive --command secflow --arguments "(SECFLOW_COMPLETE=fish secflow -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
