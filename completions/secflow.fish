# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_secflow_global_optspecs
    string join \n debug h/help V/version
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

complete -c secflow -n "__fish_secflow_needs_command" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_needs_command" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_needs_command" -s V -l version -d 'Print version'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "validate-recipe" -d 'Check recipes and report every problem with file:line:col'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "validate" -d 'Check recipes and report every problem with file:line:col'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "run-workflow" -d 'Run a workflow and record it under <state-dir>/runs/<run-id>/'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "run" -d 'Run a workflow and record it under <state-dir>/runs/<run-id>/'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "performance-analysis" -d 'Performance report from recorded runs: one, several, or against a baseline'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "analyze" -d 'Performance report from recorded runs: one, several, or against a baseline'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "schema" -d 'Print the JSON Schema of the recipe format (or of a record kind)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "completions" -d 'Print shell completions'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "plugins" -d 'List the node types available and where each comes from'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "stub" -d 'Simulate one of SecFlow\'s tools (used by the built-in plugins)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "audit" -d 'Check a run\'s tamper-evident audit trail'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "metrics" -d 'Print a run\'s metrics snapshot (table, json or Prometheus text)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "logs" -d 'Show a run\'s logs, or a node\'s captured stdout/stderr'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "export" -d 'Send a recorded run\'s spans, logs and metrics to an OpenTelemetry collector'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "runs" -d 'The history of recorded runs: list, show, prune'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "serve" -d 'Serve a state directory: web UI, /metrics, /api/runs, health (read-only)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "job-wrapper" -d 'Run one attempt\'s command inside a Slurm job and record its usage (internal)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "graph" -d 'Draw a recipe\'s DAG (DOT, Mermaid, JSON or a self-contained SVG)'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "emit" -d 'Send a log line, metric, progress or finding from a node\'s tool to secflow (SECFLOW_EVENTS); outside a run it warns and exits 0'
complete -c secflow -n "__fish_secflow_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand validate-recipe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand validate" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l var -d 'Override a recipe variable (repeatable)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l concurrency -d 'Most attempts running at once (default: the recipe\'s, else the number of CPUs)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l plugin-dir -d 'Extra directories of plugin manifests, searched after `plugins/` beside the recipe and `<state-dir>/plugins`' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l otlp-endpoint -d 'Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l sample-interval -d 'Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l push-metrics -d 'PUT the final metrics to this Prometheus Pushgateway (http:// only)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l push-grouping -d 'Grouping key of the push beyond job=secflow' -r -f -a "workflow\t'`job=secflow, workflow=<name>`'
run\t'`job=secflow, workflow=<name>, run_id=<id>`'"
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l push-timeout -d 'Bound on the push' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l metrics-textfile -d 'Write the final metrics here for node_exporter\'s textfile collector (atomically)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l metrics-listen -d 'Serve the run\'s live /metrics and /healthz on this address (HOST:PORT) while it runs' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l audit-key-file -d 'Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l resume -d 'Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest (a node whose definition, inputs or sources changed runs again, with a warning). `last` is the newest run of this workflow (same `name`)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l run-id -d 'Use this run id instead of a new ULID' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l timeout -d 'Time limit for the whole run (`90`, `30s`, `5m`)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l target -d 'Run only this node and everything upstream of it' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l executor -d 'Run every node on this executor, whatever the recipe says' -r -f -a "local\t''
slurm\t''"
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l progress -d 'When to draw the progress display' -r -f -a "never\t''
auto\t'Only on a terminal'
always\t''"
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l format -d '`json` prints run.json on stdout when the run ends' -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l show-output -d 'Tools\' output on the console: the last 20 lines of a failed attempt\'s stderr and stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`' -r -f -a "never\t'None: only statuses and the summary'
failure\t'The last 20 lines of a failed attempt\'s stderr and stdout, under its summary'
always\t'Every line of every node, live, prefixed `[node-id] ` (no progress display)'"
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l log-format -d '`json` prints the log records (the lines of logs.jsonl) on stdout instead of human lines on stderr; not with `--format json`' -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l max-instances -d 'Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node\'s own `max_instances` wins)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l dry-run -d 'Print the plan (levels, commands, env names, data paths) and run nothing'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l keep-going -d 'After a failure, still run every node whose inputs exist'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l fail-fast -d 'After a failure, terminate running nodes too'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l force -d 'With `--resume`: resume a run of another workflow (another `name`) anyway'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l fresh -d 'Start over even when `state.resume_on_failure` would resume the last failed run'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l no-cache -d 'Neither read nor write the node cache (`state.cache_intermediate`)'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -s q -l quiet -d 'Only failures and the summary on stderr'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand run-workflow" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l var -d 'Override a recipe variable (repeatable)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l concurrency -d 'Most attempts running at once (default: the recipe\'s, else the number of CPUs)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run" -l plugin-dir -d 'Extra directories of plugin manifests, searched after `plugins/` beside the recipe and `<state-dir>/plugins`' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run" -l otlp-endpoint -d 'Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l sample-interval -d 'Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l push-metrics -d 'PUT the final metrics to this Prometheus Pushgateway (http:// only)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l push-grouping -d 'Grouping key of the push beyond job=secflow' -r -f -a "workflow\t'`job=secflow, workflow=<name>`'
run\t'`job=secflow, workflow=<name>, run_id=<id>`'"
complete -c secflow -n "__fish_secflow_using_subcommand run" -l push-timeout -d 'Bound on the push' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l metrics-textfile -d 'Write the final metrics here for node_exporter\'s textfile collector (atomically)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run" -l metrics-listen -d 'Serve the run\'s live /metrics and /healthz on this address (HOST:PORT) while it runs' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l audit-key-file -d 'Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand run" -l resume -d 'Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest (a node whose definition, inputs or sources changed runs again, with a warning). `last` is the newest run of this workflow (same `name`)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l run-id -d 'Use this run id instead of a new ULID' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l timeout -d 'Time limit for the whole run (`90`, `30s`, `5m`)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l target -d 'Run only this node and everything upstream of it' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l executor -d 'Run every node on this executor, whatever the recipe says' -r -f -a "local\t''
slurm\t''"
complete -c secflow -n "__fish_secflow_using_subcommand run" -l progress -d 'When to draw the progress display' -r -f -a "never\t''
auto\t'Only on a terminal'
always\t''"
complete -c secflow -n "__fish_secflow_using_subcommand run" -l format -d '`json` prints run.json on stdout when the run ends' -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand run" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l show-output -d 'Tools\' output on the console: the last 20 lines of a failed attempt\'s stderr and stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`' -r -f -a "never\t'None: only statuses and the summary'
failure\t'The last 20 lines of a failed attempt\'s stderr and stdout, under its summary'
always\t'Every line of every node, live, prefixed `[node-id] ` (no progress display)'"
complete -c secflow -n "__fish_secflow_using_subcommand run" -l log-format -d '`json` prints the log records (the lines of logs.jsonl) on stdout instead of human lines on stderr; not with `--format json`' -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand run" -l max-instances -d 'Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node\'s own `max_instances` wins)' -r
complete -c secflow -n "__fish_secflow_using_subcommand run" -l dry-run -d 'Print the plan (levels, commands, env names, data paths) and run nothing'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l keep-going -d 'After a failure, still run every node whose inputs exist'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l fail-fast -d 'After a failure, terminate running nodes too'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l force -d 'With `--resume`: resume a run of another workflow (another `name`) anyway'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l fresh -d 'Start over even when `state.resume_on_failure` would resume the last failed run'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l no-cache -d 'Neither read nor write the node cache (`state.cache_intermediate`)'
complete -c secflow -n "__fish_secflow_using_subcommand run" -s q -l quiet -d 'Only failures and the summary on stderr'
complete -c secflow -n "__fish_secflow_using_subcommand run" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l last -d 'The newest N runs (of `--workflow`, if given)' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l workflow -d 'Only runs of this workflow (all of them unless `--last`)' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l baseline -d 'Compare against this run instead of the median of the earlier runs' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l threshold -d 'Relative growth of a node\'s median beyond which it is a regression, in percent' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l noise-ms -d 'Absolute duration growth below which nothing is flagged (noise floor)' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l noise-mib -d 'Absolute peak-RSS growth below which nothing is flagged, in MiB' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l format -d 'Report format (default: from `--output`\'s extension — `.html`, `.md`, `.json` —, else `table`)' -r -f -a "table\t'Tables for a terminal (comfy-table)'
json\t'Stable JSON with `schema_version` (`secflow schema --record analysis`)'
markdown\t'Markdown for a pull-request comment'
html\t'One self-contained HTML file: Gantt timeline, per-node bars, system charts'
chrome-trace\t'Trace Event JSON for Perfetto / chrome://tracing'"
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -s o -l output -d 'Write the report to FILE instead of stdout' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l threads -d 'Threads reading logs.jsonl (default: available cores, at most 4)' -r
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l fail-on-regression -d 'Exit 3 when a regression is flagged (for CI)'
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand performance-analysis" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l last -d 'The newest N runs (of `--workflow`, if given)' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l workflow -d 'Only runs of this workflow (all of them unless `--last`)' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l baseline -d 'Compare against this run instead of the median of the earlier runs' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l threshold -d 'Relative growth of a node\'s median beyond which it is a regression, in percent' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l noise-ms -d 'Absolute duration growth below which nothing is flagged (noise floor)' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l noise-mib -d 'Absolute peak-RSS growth below which nothing is flagged, in MiB' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l format -d 'Report format (default: from `--output`\'s extension — `.html`, `.md`, `.json` —, else `table`)' -r -f -a "table\t'Tables for a terminal (comfy-table)'
json\t'Stable JSON with `schema_version` (`secflow schema --record analysis`)'
markdown\t'Markdown for a pull-request comment'
html\t'One self-contained HTML file: Gantt timeline, per-node bars, system charts'
chrome-trace\t'Trace Event JSON for Perfetto / chrome://tracing'"
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -s o -l output -d 'Write the report to FILE instead of stdout' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l threads -d 'Threads reading logs.jsonl (default: available cores, at most 4)' -r
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l fail-on-regression -d 'Exit 3 when a regression is flagged (for CI)'
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand analyze" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand schema" -l record -d 'Print the schema of a record kind instead of the recipe format' -r -f -a "run\t'run.json'
audit\t'audit.jsonl (one event a line)'
metrics\t'metrics.json and each line of metrics.jsonl'
log\t'a line of logs.jsonl'
span\t'a line of spans.jsonl'
analysis\t'`performance-analysis --format json`'"
complete -c secflow -n "__fish_secflow_using_subcommand schema" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand schema" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand completions" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand completions" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and not __fish_seen_subcommand_from list help" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and not __fish_seen_subcommand_from list help" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and not __fish_seen_subcommand_from list help" -f -a "list" -d 'Node types: type, plugin, version, category, source'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and not __fish_seen_subcommand_from list help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from list" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from list" -l recipe -d 'Also search `plugins/` beside this recipe' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from list" -l plugin-dir -d 'Extra directories of plugin manifests, searched last' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from list" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from list" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from help" -f -a "list" -d 'Node types: type, plugin, version, category, source'
complete -c secflow -n "__fish_secflow_using_subcommand plugins; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand stub" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand stub" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and not __fish_seen_subcommand_from verify head help" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and not __fish_seen_subcommand_from verify head help" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and not __fish_seen_subcommand_from verify head help" -f -a "verify" -d 'Verify a run\'s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and not __fish_seen_subcommand_from verify head help" -f -a "head" -d 'Print the head of a run\'s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run\'s tools cannot reach (a witness for `verify --witness`)'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and not __fish_seen_subcommand_from verify head help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from verify" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from verify" -l audit-key-file -d 'The audit key file (used when SECFLOW_AUDIT_KEY is not set; default `<state-dir>/audit.key`)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from verify" -l witness -d 'Chain heads recorded elsewhere (JSON lines, as `audit head` prints them): a chain shorter than, or different from, a head of this run is tampered' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from verify" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from verify" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from head" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from head" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from head" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Verify a run\'s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "head" -d 'Print the head of a run\'s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run\'s tools cannot reach (a witness for `verify --witness`)'
complete -c secflow -n "__fish_secflow_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand metrics" -l format -r -f -a "table\t'The SecFlow summary and one row per series'
json\t'`metrics.json` as recorded'
prometheus\t'Prometheus text exposition format 0.0.4'"
complete -c secflow -n "__fish_secflow_using_subcommand metrics" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand metrics" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand metrics" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l node -d 'Only this node\'s records (with --stdout/--stderr: whose output to print)' -r
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l level -d 'Only records at this level or above (TRACE, DEBUG, INFO, WARN, ERROR)' -r
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l trace-id -d 'Only records of this W3C trace id' -r
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l since -d 'Only records at or after this RFC 3339 time, or this long ago (10m, 1h)' -r
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l attempt -d 'Which attempt\'s output (default: the last)' -r
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l format -d '`json` prints the raw JSON lines' -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand logs" -s f -l follow -d 'Keep printing new records until the run ends'
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l stdout -d 'Print the node\'s captured stdout'
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l stderr -d 'Print the node\'s captured stderr'
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l raw -d 'Same as --format json'
complete -c secflow -n "__fish_secflow_using_subcommand logs" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand logs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand export" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand export" -l otlp-endpoint -d 'Collector base URL (OTLP/HTTP); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`' -r
complete -c secflow -n "__fish_secflow_using_subcommand export" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand export" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -f -a "list" -d 'Recorded runs, newest first'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -f -a "show" -d 'One run\'s summary and nodes'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -f -a "prune" -d 'Delete old run directories (never one that is still running)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and not __fish_seen_subcommand_from list show prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from list" -l limit -d 'Show at most N runs' -r
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from list" -l workflow -d 'Only runs of the workflow with exactly this name' -r
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from list" -l format -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from list" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from list" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from show" -l format -d '`json` prints run.json exactly as recorded' -r -f -a "human\t'For people: text and tables'
json\t'Stable JSON, documented in README.md'"
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from show" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from show" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from prune" -l keep -d 'Keep the newest N runs, delete the rest' -r
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from prune" -l older-than -d 'Delete runs that started longer ago than this (e.g. `7d`, `12h`). With --keep, a run is deleted only when both rules allow it' -r
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from prune" -l state-dir -d 'Where runs are recorded (runs live in DIR/runs/)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from prune" -l dry-run -d 'Print what would be deleted; delete nothing'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from prune" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "list" -d 'Recorded runs, newest first'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "show" -d 'One run\'s summary and nodes'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete old run directories (never one that is still running)'
complete -c secflow -n "__fish_secflow_using_subcommand runs; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand serve" -l listen -d 'Address to listen on (HOST:PORT). A non-loopback address needs --token-file (or --insecure)' -r
complete -c secflow -n "__fish_secflow_using_subcommand serve" -l state-dir -d 'Where runs are recorded' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand serve" -l token-file -d 'Require `Authorization: Bearer <token>` on every endpoint but /healthz; the token is the file\'s first line, trimmed' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand serve" -l insecure -d 'Allow a non-loopback --listen without a token'
complete -c secflow -n "__fish_secflow_using_subcommand serve" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand serve" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand job-wrapper" -l usage-file -d 'Where to write the usage record (JSON)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand job-wrapper" -l env-file -d 'Start the command with exactly the variables in this file (deleted once read)' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand job-wrapper" -l chdir -d 'Working directory of the command' -r -F
complete -c secflow -n "__fish_secflow_using_subcommand job-wrapper" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand job-wrapper" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand graph" -l format -d 'Output format; an invalid recipe prints its diagnostics and exits 2' -r -f -a "dot\t'Graphviz DOT (`dot -Tsvg`)'
mermaid\t'A Mermaid flowchart (Markdown on GitHub, GitLab, …)'
json\t'`{"schema_version":1,"nodes":[…],"edges":[…]}`'
svg\t'A self-contained SVG laid out by secflow (no Graphviz needed)'"
complete -c secflow -n "__fish_secflow_using_subcommand graph" -l max-bytes -d 'Largest recipe file accepted, in bytes' -r
complete -c secflow -n "__fish_secflow_using_subcommand graph" -l max-nodes -d 'Most nodes a recipe may declare' -r
complete -c secflow -n "__fish_secflow_using_subcommand graph" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand graph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -f -a "log" -d 'A log record (logs.jsonl, with the attempt\'s trace and span ids)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -f -a "metric" -d 'A metric sample: a counter increment, a gauge value or a histogram observation'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -f -a "progress" -d 'The tool\'s progress, 0 to 1 (shown on the progress display)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -f -a "finding" -d 'A finding: a JSON object'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and not __fish_seen_subcommand_from log metric progress finding help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from log" -l level -d 'trace, debug, info, warn or error' -r
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from log" -l message -r
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from log" -l field -d 'An extra field of the record\'s metadata (repeatable); the value is kept as text' -r
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from log" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from log" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from metric" -l name -d 'A Prometheus name (counters get `_total` when it is missing)' -r
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from metric" -l type -r -f -a "counter\t''
gauge\t''
histogram\t''"
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from metric" -l value -r
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from metric" -l label -d 'A label (repeatable); `node_id` and `plugin_name` are secflow\'s' -r
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from metric" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from metric" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from progress" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from progress" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from finding" -l debug -d 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node\'s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from finding" -s h -l help -d 'Print help'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from help" -f -a "log" -d 'A log record (logs.jsonl, with the attempt\'s trace and span ids)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from help" -f -a "metric" -d 'A metric sample: a counter increment, a gauge value or a histogram observation'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from help" -f -a "progress" -d 'The tool\'s progress, 0 to 1 (shown on the progress display)'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from help" -f -a "finding" -d 'A finding: a JSON object'
complete -c secflow -n "__fish_secflow_using_subcommand emit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "validate-recipe" -d 'Check recipes and report every problem with file:line:col'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "run-workflow" -d 'Run a workflow and record it under <state-dir>/runs/<run-id>/'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "performance-analysis" -d 'Performance report from recorded runs: one, several, or against a baseline'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "schema" -d 'Print the JSON Schema of the recipe format (or of a record kind)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "completions" -d 'Print shell completions'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "plugins" -d 'List the node types available and where each comes from'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "stub" -d 'Simulate one of SecFlow\'s tools (used by the built-in plugins)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "audit" -d 'Check a run\'s tamper-evident audit trail'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "metrics" -d 'Print a run\'s metrics snapshot (table, json or Prometheus text)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "logs" -d 'Show a run\'s logs, or a node\'s captured stdout/stderr'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "export" -d 'Send a recorded run\'s spans, logs and metrics to an OpenTelemetry collector'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "runs" -d 'The history of recorded runs: list, show, prune'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "serve" -d 'Serve a state directory: web UI, /metrics, /api/runs, health (read-only)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "job-wrapper" -d 'Run one attempt\'s command inside a Slurm job and record its usage (internal)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "graph" -d 'Draw a recipe\'s DAG (DOT, Mermaid, JSON or a self-contained SVG)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "emit" -d 'Send a log line, metric, progress or finding from a node\'s tool to secflow (SECFLOW_EVENTS); outside a run it warns and exits 0'
complete -c secflow -n "__fish_secflow_using_subcommand help; and not __fish_seen_subcommand_from validate-recipe run-workflow performance-analysis schema completions plugins stub audit metrics logs export runs serve job-wrapper graph emit help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from plugins" -f -a "list" -d 'Node types: type, plugin, version, category, source'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify" -d 'Verify a run\'s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "head" -d 'Print the head of a run\'s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run\'s tools cannot reach (a witness for `verify --witness`)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "list" -d 'Recorded runs, newest first'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "show" -d 'One run\'s summary and nodes'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from runs" -f -a "prune" -d 'Delete old run directories (never one that is still running)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from emit" -f -a "log" -d 'A log record (logs.jsonl, with the attempt\'s trace and span ids)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from emit" -f -a "metric" -d 'A metric sample: a counter increment, a gauge value or a histogram observation'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from emit" -f -a "progress" -d 'The tool\'s progress, 0 to 1 (shown on the progress display)'
complete -c secflow -n "__fish_secflow_using_subcommand help; and __fish_seen_subcommand_from emit" -f -a "finding" -d 'A finding: a JSON object'
