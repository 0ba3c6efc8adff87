
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
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand validate-recipe 'Check recipes and report every problem with file:line:col'
            cand validate 'Check recipes and report every problem with file:line:col'
            cand run-workflow 'Run a workflow and record it under <state-dir>/runs/<run-id>/'
            cand run 'Run a workflow and record it under <state-dir>/runs/<run-id>/'
            cand performance-analysis 'Performance report from recorded runs: one, several, or against a baseline'
            cand analyze 'Performance report from recorded runs: one, several, or against a baseline'
            cand schema 'Print the JSON Schema of the recipe format (or of a record kind)'
            cand completions 'Print shell completions'
            cand plugins 'List the node types available and where each comes from'
            cand stub 'Simulate one of SecFlow''s tools (used by the built-in plugins)'
            cand audit 'Check a run''s tamper-evident audit trail'
            cand metrics 'Print a run''s metrics snapshot (table, json or Prometheus text)'
            cand logs 'Show a run''s logs, or a node''s captured stdout/stderr'
            cand export 'Send a recorded run''s spans, logs and metrics to an OpenTelemetry collector'
            cand runs 'The history of recorded runs: list, show, prune'
            cand serve 'Serve a state directory: web UI, /metrics, /api/runs, health (read-only)'
            cand job-wrapper 'Run one attempt''s command inside a Slurm job and record its usage (internal)'
            cand graph 'Draw a recipe''s DAG (DOT, Mermaid, JSON or a self-contained SVG)'
            cand emit 'Send a log line, metric, progress or finding from a node''s tool to secflow (SECFLOW_EVENTS); outside a run it warns and exits 0'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;validate-recipe'= {
            cand --format 'format'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;validate'= {
            cand --format 'format'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;run-workflow'= {
            cand --var 'Override a recipe variable (repeatable)'
            cand --concurrency 'Most attempts running at once (default: the recipe''s, else the number of CPUs)'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --plugin-dir 'Extra directories of plugin manifests, searched after `plugins/` beside the recipe and `<state-dir>/plugins`'
            cand --otlp-endpoint 'Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`'
            cand --sample-interval 'Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms)'
            cand --push-metrics 'PUT the final metrics to this Prometheus Pushgateway (http:// only)'
            cand --push-grouping 'Grouping key of the push beyond job=secflow'
            cand --push-timeout 'Bound on the push'
            cand --metrics-textfile 'Write the final metrics here for node_exporter''s textfile collector (atomically)'
            cand --metrics-listen 'Serve the run''s live /metrics and /healthz on this address (HOST:PORT) while it runs'
            cand --audit-key-file 'Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`'
            cand --resume 'Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest (a node whose definition, inputs or sources changed runs again, with a warning). `last` is the newest run of this workflow (same `name`)'
            cand --run-id 'Use this run id instead of a new ULID'
            cand --timeout 'Time limit for the whole run (`90`, `30s`, `5m`)'
            cand --target 'Run only this node and everything upstream of it'
            cand --executor 'Run every node on this executor, whatever the recipe says'
            cand --progress 'When to draw the progress display'
            cand --format '`json` prints run.json on stdout when the run ends'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand --show-output 'Tools'' output on the console: the last 20 lines of a failed attempt''s stderr and stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`'
            cand --log-format '`json` prints the log records (the lines of logs.jsonl) on stdout instead of human lines on stderr; not with `--format json`'
            cand --max-instances 'Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node''s own `max_instances` wins)'
            cand --dry-run 'Print the plan (levels, commands, env names, data paths) and run nothing'
            cand --keep-going 'After a failure, still run every node whose inputs exist'
            cand --fail-fast 'After a failure, terminate running nodes too'
            cand --force 'With `--resume`: resume a run of another workflow (another `name`) anyway'
            cand --fresh 'Start over even when `state.resume_on_failure` would resume the last failed run'
            cand --no-cache 'Neither read nor write the node cache (`state.cache_intermediate`)'
            cand -q 'Only failures and the summary on stderr'
            cand --quiet 'Only failures and the summary on stderr'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;run'= {
            cand --var 'Override a recipe variable (repeatable)'
            cand --concurrency 'Most attempts running at once (default: the recipe''s, else the number of CPUs)'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --plugin-dir 'Extra directories of plugin manifests, searched after `plugins/` beside the recipe and `<state-dir>/plugins`'
            cand --otlp-endpoint 'Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`'
            cand --sample-interval 'Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms)'
            cand --push-metrics 'PUT the final metrics to this Prometheus Pushgateway (http:// only)'
            cand --push-grouping 'Grouping key of the push beyond job=secflow'
            cand --push-timeout 'Bound on the push'
            cand --metrics-textfile 'Write the final metrics here for node_exporter''s textfile collector (atomically)'
            cand --metrics-listen 'Serve the run''s live /metrics and /healthz on this address (HOST:PORT) while it runs'
            cand --audit-key-file 'Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`'
            cand --resume 'Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest (a node whose definition, inputs or sources changed runs again, with a warning). `last` is the newest run of this workflow (same `name`)'
            cand --run-id 'Use this run id instead of a new ULID'
            cand --timeout 'Time limit for the whole run (`90`, `30s`, `5m`)'
            cand --target 'Run only this node and everything upstream of it'
            cand --executor 'Run every node on this executor, whatever the recipe says'
            cand --progress 'When to draw the progress display'
            cand --format '`json` prints run.json on stdout when the run ends'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand --show-output 'Tools'' output on the console: the last 20 lines of a failed attempt''s stderr and stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`'
            cand --log-format '`json` prints the log records (the lines of logs.jsonl) on stdout instead of human lines on stderr; not with `--format json`'
            cand --max-instances 'Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node''s own `max_instances` wins)'
            cand --dry-run 'Print the plan (levels, commands, env names, data paths) and run nothing'
            cand --keep-going 'After a failure, still run every node whose inputs exist'
            cand --fail-fast 'After a failure, terminate running nodes too'
            cand --force 'With `--resume`: resume a run of another workflow (another `name`) anyway'
            cand --fresh 'Start over even when `state.resume_on_failure` would resume the last failed run'
            cand --no-cache 'Neither read nor write the node cache (`state.cache_intermediate`)'
            cand -q 'Only failures and the summary on stderr'
            cand --quiet 'Only failures and the summary on stderr'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;performance-analysis'= {
            cand --last 'The newest N runs (of `--workflow`, if given)'
            cand --workflow 'Only runs of this workflow (all of them unless `--last`)'
            cand --baseline 'Compare against this run instead of the median of the earlier runs'
            cand --threshold 'Relative growth of a node''s median beyond which it is a regression, in percent'
            cand --noise-ms 'Absolute duration growth below which nothing is flagged (noise floor)'
            cand --noise-mib 'Absolute peak-RSS growth below which nothing is flagged, in MiB'
            cand --format 'Report format (default: from `--output`''s extension — `.html`, `.md`, `.json` —, else `table`)'
            cand -o 'Write the report to FILE instead of stdout'
            cand --output 'Write the report to FILE instead of stdout'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --threads 'Threads reading logs.jsonl (default: available cores, at most 4)'
            cand --fail-on-regression 'Exit 3 when a regression is flagged (for CI)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;analyze'= {
            cand --last 'The newest N runs (of `--workflow`, if given)'
            cand --workflow 'Only runs of this workflow (all of them unless `--last`)'
            cand --baseline 'Compare against this run instead of the median of the earlier runs'
            cand --threshold 'Relative growth of a node''s median beyond which it is a regression, in percent'
            cand --noise-ms 'Absolute duration growth below which nothing is flagged (noise floor)'
            cand --noise-mib 'Absolute peak-RSS growth below which nothing is flagged, in MiB'
            cand --format 'Report format (default: from `--output`''s extension — `.html`, `.md`, `.json` —, else `table`)'
            cand -o 'Write the report to FILE instead of stdout'
            cand --output 'Write the report to FILE instead of stdout'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --threads 'Threads reading logs.jsonl (default: available cores, at most 4)'
            cand --fail-on-regression 'Exit 3 when a regression is flagged (for CI)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;schema'= {
            cand --record 'Print the schema of a record kind instead of the recipe format'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;completions'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;plugins'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'Node types: type, plugin, version, category, source'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;plugins;list'= {
            cand --format 'format'
            cand --recipe 'Also search `plugins/` beside this recipe'
            cand --plugin-dir 'Extra directories of plugin manifests, searched last'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;plugins;help'= {
            cand list 'Node types: type, plugin, version, category, source'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;plugins;help;list'= {
        }
        &'secflow;plugins;help;help'= {
        }
        &'secflow;stub'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;audit'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand verify 'Verify a run''s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run'
            cand head 'Print the head of a run''s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run''s tools cannot reach (a witness for `verify --witness`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;audit;verify'= {
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --audit-key-file 'The audit key file (used when SECFLOW_AUDIT_KEY is not set; default `<state-dir>/audit.key`)'
            cand --witness 'Chain heads recorded elsewhere (JSON lines, as `audit head` prints them): a chain shorter than, or different from, a head of this run is tampered'
            cand --format 'format'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;audit;head'= {
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;audit;help'= {
            cand verify 'Verify a run''s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run'
            cand head 'Print the head of a run''s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run''s tools cannot reach (a witness for `verify --witness`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;audit;help;verify'= {
        }
        &'secflow;audit;help;head'= {
        }
        &'secflow;audit;help;help'= {
        }
        &'secflow;metrics'= {
            cand --format 'format'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;logs'= {
            cand --node 'Only this node''s records (with --stdout/--stderr: whose output to print)'
            cand --level 'Only records at this level or above (TRACE, DEBUG, INFO, WARN, ERROR)'
            cand --trace-id 'Only records of this W3C trace id'
            cand --since 'Only records at or after this RFC 3339 time, or this long ago (10m, 1h)'
            cand --attempt 'Which attempt''s output (default: the last)'
            cand --format '`json` prints the raw JSON lines'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand -f 'Keep printing new records until the run ends'
            cand --follow 'Keep printing new records until the run ends'
            cand --stdout 'Print the node''s captured stdout'
            cand --stderr 'Print the node''s captured stderr'
            cand --raw 'Same as --format json'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;export'= {
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --otlp-endpoint 'Collector base URL (OTLP/HTTP); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;runs'= {
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand list 'Recorded runs, newest first'
            cand show 'One run''s summary and nodes'
            cand prune 'Delete old run directories (never one that is still running)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;runs;list'= {
            cand --limit 'Show at most N runs'
            cand --workflow 'Only runs of the workflow with exactly this name'
            cand --format 'format'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;runs;show'= {
            cand --format '`json` prints run.json exactly as recorded'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;runs;prune'= {
            cand --keep 'Keep the newest N runs, delete the rest'
            cand --older-than 'Delete runs that started longer ago than this (e.g. `7d`, `12h`). With --keep, a run is deleted only when both rules allow it'
            cand --state-dir 'Where runs are recorded (runs live in DIR/runs/)'
            cand --dry-run 'Print what would be deleted; delete nothing'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;runs;help'= {
            cand list 'Recorded runs, newest first'
            cand show 'One run''s summary and nodes'
            cand prune 'Delete old run directories (never one that is still running)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;runs;help;list'= {
        }
        &'secflow;runs;help;show'= {
        }
        &'secflow;runs;help;prune'= {
        }
        &'secflow;runs;help;help'= {
        }
        &'secflow;serve'= {
            cand --listen 'Address to listen on (HOST:PORT). A non-loopback address needs --token-file (or --insecure)'
            cand --state-dir 'Where runs are recorded'
            cand --token-file 'Require `Authorization: Bearer <token>` on every endpoint but /healthz; the token is the file''s first line, trimmed'
            cand --insecure 'Allow a non-loopback --listen without a token'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;job-wrapper'= {
            cand --usage-file 'Where to write the usage record (JSON)'
            cand --env-file 'Start the command with exactly the variables in this file (deleted once read)'
            cand --chdir 'Working directory of the command'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;graph'= {
            cand --format 'Output format; an invalid recipe prints its diagnostics and exits 2'
            cand --max-bytes 'Largest recipe file accepted, in bytes'
            cand --max-nodes 'Most nodes a recipe may declare'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'secflow;emit'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand log 'A log record (logs.jsonl, with the attempt''s trace and span ids)'
            cand metric 'A metric sample: a counter increment, a gauge value or a histogram observation'
            cand progress 'The tool''s progress, 0 to 1 (shown on the progress display)'
            cand finding 'A finding: a JSON object'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;emit;log'= {
            cand --level 'trace, debug, info, warn or error'
            cand --message 'message'
            cand --field 'An extra field of the record''s metadata (repeatable); the value is kept as text'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;emit;metric'= {
            cand --name 'A Prometheus name (counters get `_total` when it is missing)'
            cand --type 'type'
            cand --value 'value'
            cand --label 'A label (repeatable); `node_id` and `plugin_name` are secflow''s'
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;emit;progress'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;emit;finding'= {
            cand --debug 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'secflow;emit;help'= {
            cand log 'A log record (logs.jsonl, with the attempt''s trace and span ids)'
            cand metric 'A metric sample: a counter increment, a gauge value or a histogram observation'
            cand progress 'The tool''s progress, 0 to 1 (shown on the progress display)'
            cand finding 'A finding: a JSON object'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;emit;help;log'= {
        }
        &'secflow;emit;help;metric'= {
        }
        &'secflow;emit;help;progress'= {
        }
        &'secflow;emit;help;finding'= {
        }
        &'secflow;emit;help;help'= {
        }
        &'secflow;help'= {
            cand validate-recipe 'Check recipes and report every problem with file:line:col'
            cand run-workflow 'Run a workflow and record it under <state-dir>/runs/<run-id>/'
            cand performance-analysis 'Performance report from recorded runs: one, several, or against a baseline'
            cand schema 'Print the JSON Schema of the recipe format (or of a record kind)'
            cand completions 'Print shell completions'
            cand plugins 'List the node types available and where each comes from'
            cand stub 'Simulate one of SecFlow''s tools (used by the built-in plugins)'
            cand audit 'Check a run''s tamper-evident audit trail'
            cand metrics 'Print a run''s metrics snapshot (table, json or Prometheus text)'
            cand logs 'Show a run''s logs, or a node''s captured stdout/stderr'
            cand export 'Send a recorded run''s spans, logs and metrics to an OpenTelemetry collector'
            cand runs 'The history of recorded runs: list, show, prune'
            cand serve 'Serve a state directory: web UI, /metrics, /api/runs, health (read-only)'
            cand job-wrapper 'Run one attempt''s command inside a Slurm job and record its usage (internal)'
            cand graph 'Draw a recipe''s DAG (DOT, Mermaid, JSON or a self-contained SVG)'
            cand emit 'Send a log line, metric, progress or finding from a node''s tool to secflow (SECFLOW_EVENTS); outside a run it warns and exits 0'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'secflow;help;validate-recipe'= {
        }
        &'secflow;help;run-workflow'= {
        }
        &'secflow;help;performance-analysis'= {
        }
        &'secflow;help;schema'= {
        }
        &'secflow;help;completions'= {
        }
        &'secflow;help;plugins'= {
            cand list 'Node types: type, plugin, version, category, source'
        }
        &'secflow;help;plugins;list'= {
        }
        &'secflow;help;stub'= {
        }
        &'secflow;help;audit'= {
            cand verify 'Verify a run''s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run'
            cand head 'Print the head of a run''s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run''s tools cannot reach (a witness for `verify --witness`)'
        }
        &'secflow;help;audit;verify'= {
        }
        &'secflow;help;audit;head'= {
        }
        &'secflow;help;metrics'= {
        }
        &'secflow;help;logs'= {
        }
        &'secflow;help;export'= {
        }
        &'secflow;help;runs'= {
            cand list 'Recorded runs, newest first'
            cand show 'One run''s summary and nodes'
            cand prune 'Delete old run directories (never one that is still running)'
        }
        &'secflow;help;runs;list'= {
        }
        &'secflow;help;runs;show'= {
        }
        &'secflow;help;runs;prune'= {
        }
        &'secflow;help;serve'= {
        }
        &'secflow;help;job-wrapper'= {
        }
        &'secflow;help;graph'= {
        }
        &'secflow;help;emit'= {
            cand log 'A log record (logs.jsonl, with the attempt''s trace and span ids)'
            cand metric 'A metric sample: a counter increment, a gauge value or a histogram observation'
            cand progress 'The tool''s progress, 0 to 1 (shown on the progress display)'
            cand finding 'A finding: a JSON object'
        }
        &'secflow;help;emit;log'= {
        }
        &'secflow;help;emit;metric'= {
        }
        &'secflow;help;emit;progress'= {
        }
        &'secflow;help;emit;finding'= {
        }
        &'secflow;help;help'= {
        }
    ]
    $completions[$command]
}
