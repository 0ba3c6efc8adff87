
use builtin;
use str;

set edit:completion:arg-completer[secflow] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'secflow'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'secflow'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand validate-recipe 'Check recipes and report every problem with file:line:col'
            cand validate 'Check recipes and report every problem with file:line:col'
            cand schema 'Print the JSON Schema of the recipe format (or of a record kind)'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;validate-recipe'= {
            cand --format 'format'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;validate'= {
            cand --format 'format'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;schema'= {
            cand --record 'Print the schema of a record kind instead of the recipe format'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;help'= {
            cand validate-recipe 'Check recipes and report every problem with file:line:col'
            cand schema 'Print the JSON Schema of the recipe format (or of a record kind)'
            cand completions 'Print shell completions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;help;validate-recipe'= {
        }
        &'secflow;help;schema'= {
        }
        &'secflow;help;completions'= {
        }
        &'secflow;help;help'= {
        }
    ]
    $completions[$command]
}
