# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_secflow_global_optspecs
    string join \n h/help V/version
end

function __fish_secflow_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_secflow_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_secflow_using_subcommand
    set -l cmd (__fish_secflow_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c secflow -n "__fish_secflow_needs_command" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_needs_command" -s V -l version -d 'Print version'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "validate-recipe" -d 'Check recipes and report every problem with file:line:col'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "validate" -d 'Check recipes and report every problem with file:line:col'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "schema" -d 'Print the JSON Schema of the recipe format (or of a record kind)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand schema" -l record -d 'Print the schema of a record kind instead of the recipe format' -r -f -a "run\t'run.json'"
complete -c secflow -n "__fish_secflow_using_subcommand schema" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand completions" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe schema completions help" -f -a "validate-recipe" -d 'Check recipes and report every problem with file:line:col'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe schema completions help" -f -a "schema" -d 'Print the JSON Schema of the recipe format (or of a record kind)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe schema completions help" -f -a "completions" -d 'Print shell completions'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe schema completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
