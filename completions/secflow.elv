
set edit:completion:arg-completer[secflow] = { |@words|
    var index = (count $words)
    set index = (- $index 1)

    put (env _CLAP_IFS="\n" _CLAP_COMPLETE_INDEX=(to-string $index) SECFLOW_COMPLETE="elvish" secflow -- $@words) | to-lines
}

