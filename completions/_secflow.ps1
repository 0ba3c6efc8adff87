
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'secflow' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'secflow'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'secflow' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('validate-recipe', 'validate-recipe', [CompletionResultType]::ParameterValue, 'Check recipes and report every problem with file:line:col')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check recipes and report every problem with file:line:col')
            [CompletionResult]::new('run-workflow', 'run-workflow', [CompletionResultType]::ParameterValue, 'Run a workflow and record it under <state-dir>/runs/<run-id>/')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a workflow and record it under <state-dir>/runs/<run-id>/')
            [CompletionResult]::new('performance-analysis', 'performance-analysis', [CompletionResultType]::ParameterValue, 'Performance report from recorded runs: one, several, or against a baseline')
            [CompletionResult]::new('analyze', 'analyze', [CompletionResultType]::ParameterValue, 'Performance report from recorded runs: one, several, or against a baseline')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the recipe format (or of a record kind)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('plugins', 'plugins', [CompletionResultType]::ParameterValue, 'List the node types available and where each comes from')
            [CompletionResult]::new('stub', 'stub', [CompletionResultType]::ParameterValue, 'Simulate one of SecFlow''s tools (used by the built-in plugins)')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Check a run''s tamper-evident audit trail')
            [CompletionResult]::new('metrics', 'metrics', [CompletionResultType]::ParameterValue, 'Print a run''s metrics snapshot (table, json or Prometheus text)')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show a run''s logs, or a node''s captured stdout/stderr')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Send a recorded run''s spans, logs and metrics to an OpenTelemetry collector')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'The history of recorded runs: list, show, prune')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve a state directory: web UI, /metrics, /api/runs, health (read-only)')
            [CompletionResult]::new('job-wrapper', 'job-wrapper', [CompletionResultType]::ParameterValue, 'Run one attempt''s command inside a Slurm job and record its usage (internal)')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Draw a recipe''s DAG (DOT, Mermaid, JSON or a self-contained SVG)')
            [CompletionResult]::new('emit', 'emit', [CompletionResultType]::ParameterValue, 'Send a log line, metric, progress or finding from a node''s tool to secflow (SECFLOW_EVENTS); outside a run it warns and exits 0')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;validate-recipe' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--max-bytes', '--max-bytes', [CompletionResultType]::ParameterName, 'Largest recipe file accepted, in bytes')
            [CompletionResult]::new('--max-nodes', '--max-nodes', [CompletionResultType]::ParameterName, 'Most nodes a recipe may declare')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;validate' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--max-bytes', '--max-bytes', [CompletionResultType]::ParameterName, 'Largest recipe file accepted, in bytes')
            [CompletionResult]::new('--max-nodes', '--max-nodes', [CompletionResultType]::ParameterName, 'Most nodes a recipe may declare')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;run-workflow' {
            [CompletionResult]::new('--var', '--var', [CompletionResultType]::ParameterName, 'Override a recipe variable (repeatable)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Most attempts running at once (default: the recipe''s, else the number of CPUs)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--plugin-dir', '--plugin-dir', [CompletionResultType]::ParameterName, 'Extra directories of plugin manifests, searched after `plugins/` beside the recipe and `<state-dir>/plugins`')
            [CompletionResult]::new('--otlp-endpoint', '--otlp-endpoint', [CompletionResultType]::ParameterName, 'Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`')
            [CompletionResult]::new('--sample-interval', '--sample-interval', [CompletionResultType]::ParameterName, 'Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms)')
            [CompletionResult]::new('--push-metrics', '--push-metrics', [CompletionResultType]::ParameterName, 'PUT the final metrics to this Prometheus Pushgateway (http:// only)')
            [CompletionResult]::new('--push-grouping', '--push-grouping', [CompletionResultType]::ParameterName, 'Grouping key of the push beyond job=secflow')
            [CompletionResult]::new('--push-timeout', '--push-timeout', [CompletionResultType]::ParameterName, 'Bound on the push')
            [CompletionResult]::new('--metrics-textfile', '--metrics-textfile', [CompletionResultType]::ParameterName, 'Write the final metrics here for node_exporter''s textfile collector (atomically)')
            [CompletionResult]::new('--metrics-listen', '--metrics-listen', [CompletionResultType]::ParameterName, 'Serve the run''s live /metrics and /healthz on this address (HOST:PORT) while it runs')
            [CompletionResult]::new('--audit-key-file', '--audit-key-file', [CompletionResultType]::ParameterName, 'Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest (a node whose definition, inputs or sources changed runs again, with a warning). `last` is the newest run of this workflow (same `name`)')
            [CompletionResult]::new('--run-id', '--run-id', [CompletionResultType]::ParameterName, 'Use this run id instead of a new ULID')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Time limit for the whole run (`90`, `30s`, `5m`)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Run only this node and everything upstream of it')
            [CompletionResult]::new('--executor', '--executor', [CompletionResultType]::ParameterName, 'Run every node on this executor, whatever the recipe says')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'When to draw the progress display')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, '`json` prints run.json on stdout when the run ends')
            [CompletionResult]::new('--max-bytes', '--max-bytes', [CompletionResultType]::ParameterName, 'Largest recipe file accepted, in bytes')
            [CompletionResult]::new('--max-nodes', '--max-nodes', [CompletionResultType]::ParameterName, 'Most nodes a recipe may declare')
            [CompletionResult]::new('--show-output', '--show-output', [CompletionResultType]::ParameterName, 'Tools'' output on the console: the last 20 lines of a failed attempt''s stderr and stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, '`json` prints the log records (the lines of logs.jsonl) on stdout instead of human lines on stderr; not with `--format json`')
            [CompletionResult]::new('--max-instances', '--max-instances', [CompletionResultType]::ParameterName, 'Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node''s own `max_instances` wins)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan (levels, commands, env names, data paths) and run nothing')
            [CompletionResult]::new('--keep-going', '--keep-going', [CompletionResultType]::ParameterName, 'After a failure, still run every node whose inputs exist')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'After a failure, terminate running nodes too')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'With `--resume`: resume a run of another workflow (another `name`) anyway')
            [CompletionResult]::new('--fresh', '--fresh', [CompletionResultType]::ParameterName, 'Start over even when `state.resume_on_failure` would resume the last failed run')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Neither read nor write the node cache (`state.cache_intermediate`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only failures and the summary on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only failures and the summary on stderr')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;run' {
            [CompletionResult]::new('--var', '--var', [CompletionResultType]::ParameterName, 'Override a recipe variable (repeatable)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Most attempts running at once (default: the recipe''s, else the number of CPUs)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--plugin-dir', '--plugin-dir', [CompletionResultType]::ParameterName, 'Extra directories of plugin manifests, searched after `plugins/` beside the recipe and `<state-dir>/plugins`')
            [CompletionResult]::new('--otlp-endpoint', '--otlp-endpoint', [CompletionResultType]::ParameterName, 'Send spans, logs and metrics to this OpenTelemetry collector (OTLP/HTTP base URL); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`')
            [CompletionResult]::new('--sample-interval', '--sample-interval', [CompletionResultType]::ParameterName, 'Period of system samples and metrics.jsonl snapshots (e.g. 1s, 500ms)')
            [CompletionResult]::new('--push-metrics', '--push-metrics', [CompletionResultType]::ParameterName, 'PUT the final metrics to this Prometheus Pushgateway (http:// only)')
            [CompletionResult]::new('--push-grouping', '--push-grouping', [CompletionResultType]::ParameterName, 'Grouping key of the push beyond job=secflow')
            [CompletionResult]::new('--push-timeout', '--push-timeout', [CompletionResultType]::ParameterName, 'Bound on the push')
            [CompletionResult]::new('--metrics-textfile', '--metrics-textfile', [CompletionResultType]::ParameterName, 'Write the final metrics here for node_exporter''s textfile collector (atomically)')
            [CompletionResult]::new('--metrics-listen', '--metrics-listen', [CompletionResultType]::ParameterName, 'Serve the run''s live /metrics and /healthz on this address (HOST:PORT) while it runs')
            [CompletionResult]::new('--audit-key-file', '--audit-key-file', [CompletionResultType]::ParameterName, 'Audit key file (hex or base64); default `SECFLOW_AUDIT_KEY`, else `<state-dir>/audit.key`')
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Re-run only the nodes of RUN that did not succeed, reusing the datasets of the rest (a node whose definition, inputs or sources changed runs again, with a warning). `last` is the newest run of this workflow (same `name`)')
            [CompletionResult]::new('--run-id', '--run-id', [CompletionResultType]::ParameterName, 'Use this run id instead of a new ULID')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Time limit for the whole run (`90`, `30s`, `5m`)')
            [CompletionResult]::new('--target', '--target', [CompletionResultType]::ParameterName, 'Run only this node and everything upstream of it')
            [CompletionResult]::new('--executor', '--executor', [CompletionResultType]::ParameterName, 'Run every node on this executor, whatever the recipe says')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'When to draw the progress display')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, '`json` prints run.json on stdout when the run ends')
            [CompletionResult]::new('--max-bytes', '--max-bytes', [CompletionResultType]::ParameterName, 'Largest recipe file accepted, in bytes')
            [CompletionResult]::new('--max-nodes', '--max-nodes', [CompletionResultType]::ParameterName, 'Most nodes a recipe may declare')
            [CompletionResult]::new('--show-output', '--show-output', [CompletionResultType]::ParameterName, 'Tools'' output on the console: the last 20 lines of a failed attempt''s stderr and stdout (`failure`), every line live prefixed `[node-id] ` (`always`), or `never`')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, '`json` prints the log records (the lines of logs.jsonl) on stdout instead of human lines on stderr; not with `--format json`')
            [CompletionResult]::new('--max-instances', '--max-instances', [CompletionResultType]::ParameterName, 'Most instances one `foreach`/`matrix` node may fan out to (default 10000; a node''s own `max_instances` wins)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan (levels, commands, env names, data paths) and run nothing')
            [CompletionResult]::new('--keep-going', '--keep-going', [CompletionResultType]::ParameterName, 'After a failure, still run every node whose inputs exist')
            [CompletionResult]::new('--fail-fast', '--fail-fast', [CompletionResultType]::ParameterName, 'After a failure, terminate running nodes too')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'With `--resume`: resume a run of another workflow (another `name`) anyway')
            [CompletionResult]::new('--fresh', '--fresh', [CompletionResultType]::ParameterName, 'Start over even when `state.resume_on_failure` would resume the last failed run')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Neither read nor write the node cache (`state.cache_intermediate`)')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only failures and the summary on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only failures and the summary on stderr')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;performance-analysis' {
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'The newest N runs (of `--workflow`, if given)')
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'Only runs of this workflow (all of them unless `--last`)')
            [CompletionResult]::new('--baseline', '--baseline', [CompletionResultType]::ParameterName, 'Compare against this run instead of the median of the earlier runs')
            [CompletionResult]::new('--threshold', '--threshold', [CompletionResultType]::ParameterName, 'Relative growth of a node''s median beyond which it is a regression, in percent')
            [CompletionResult]::new('--noise-ms', '--noise-ms', [CompletionResultType]::ParameterName, 'Absolute duration growth below which nothing is flagged (noise floor)')
            [CompletionResult]::new('--noise-mib', '--noise-mib', [CompletionResultType]::ParameterName, 'Absolute peak-RSS growth below which nothing is flagged, in MiB')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Report format (default: from `--output`''s extension — `.html`, `.md`, `.json` —, else `table`)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the report to FILE instead of stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the report to FILE instead of stdout')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Threads reading logs.jsonl (default: available cores, at most 4)')
            [CompletionResult]::new('--fail-on-regression', '--fail-on-regression', [CompletionResultType]::ParameterName, 'Exit 3 when a regression is flagged (for CI)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;analyze' {
            [CompletionResult]::new('--last', '--last', [CompletionResultType]::ParameterName, 'The newest N runs (of `--workflow`, if given)')
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'Only runs of this workflow (all of them unless `--last`)')
            [CompletionResult]::new('--baseline', '--baseline', [CompletionResultType]::ParameterName, 'Compare against this run instead of the median of the earlier runs')
            [CompletionResult]::new('--threshold', '--threshold', [CompletionResultType]::ParameterName, 'Relative growth of a node''s median beyond which it is a regression, in percent')
            [CompletionResult]::new('--noise-ms', '--noise-ms', [CompletionResultType]::ParameterName, 'Absolute duration growth below which nothing is flagged (noise floor)')
            [CompletionResult]::new('--noise-mib', '--noise-mib', [CompletionResultType]::ParameterName, 'Absolute peak-RSS growth below which nothing is flagged, in MiB')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Report format (default: from `--output`''s extension — `.html`, `.md`, `.json` —, else `table`)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the report to FILE instead of stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the report to FILE instead of stdout')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Threads reading logs.jsonl (default: available cores, at most 4)')
            [CompletionResult]::new('--fail-on-regression', '--fail-on-regression', [CompletionResultType]::ParameterName, 'Exit 3 when a regression is flagged (for CI)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;schema' {
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Print the schema of a record kind instead of the recipe format')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;completions' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;plugins' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Node types: type, plugin, version, category, source')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;plugins;list' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--recipe', '--recipe', [CompletionResultType]::ParameterName, 'Also search `plugins/` beside this recipe')
            [CompletionResult]::new('--plugin-dir', '--plugin-dir', [CompletionResultType]::ParameterName, 'Extra directories of plugin manifests, searched last')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;plugins;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Node types: type, plugin, version, category, source')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;plugins;help;list' {
            break
        }
        'secflow;plugins;help;help' {
            break
        }
        'secflow;stub' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;audit' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a run''s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run')
            [CompletionResult]::new('head', 'head', [CompletionResultType]::ParameterValue, 'Print the head of a run''s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run''s tools cannot reach (a witness for `verify --witness`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;audit;verify' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--audit-key-file', '--audit-key-file', [CompletionResultType]::ParameterName, 'The audit key file (used when SECFLOW_AUDIT_KEY is not set; default `<state-dir>/audit.key`)')
            [CompletionResult]::new('--witness', '--witness', [CompletionResultType]::ParameterName, 'Chain heads recorded elsewhere (JSON lines, as `audit head` prints them): a chain shorter than, or different from, a head of this run is tampered')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;audit;head' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;audit;help' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a run''s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run')
            [CompletionResult]::new('head', 'head', [CompletionResultType]::ParameterValue, 'Print the head of a run''s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run''s tools cannot reach (a witness for `verify --witness`)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;audit;help;verify' {
            break
        }
        'secflow;audit;help;head' {
            break
        }
        'secflow;audit;help;help' {
            break
        }
        'secflow;metrics' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;logs' {
            [CompletionResult]::new('--node', '--node', [CompletionResultType]::ParameterName, 'Only this node''s records (with --stdout/--stderr: whose output to print)')
            [CompletionResult]::new('--level', '--level', [CompletionResultType]::ParameterName, 'Only records at this level or above (TRACE, DEBUG, INFO, WARN, ERROR)')
            [CompletionResult]::new('--trace-id', '--trace-id', [CompletionResultType]::ParameterName, 'Only records of this W3C trace id')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only records at or after this RFC 3339 time, or this long ago (10m, 1h)')
            [CompletionResult]::new('--attempt', '--attempt', [CompletionResultType]::ParameterName, 'Which attempt''s output (default: the last)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, '`json` prints the raw JSON lines')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Keep printing new records until the run ends')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep printing new records until the run ends')
            [CompletionResult]::new('--stdout', '--stdout', [CompletionResultType]::ParameterName, 'Print the node''s captured stdout')
            [CompletionResult]::new('--stderr', '--stderr', [CompletionResultType]::ParameterName, 'Print the node''s captured stderr')
            [CompletionResult]::new('--raw', '--raw', [CompletionResultType]::ParameterName, 'Same as --format json')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;export' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--otlp-endpoint', '--otlp-endpoint', [CompletionResultType]::ParameterName, 'Collector base URL (OTLP/HTTP); overrides `OTEL_EXPORTER_OTLP_*ENDPOINT`')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;runs' {
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Recorded runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'One run''s summary and nodes')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete old run directories (never one that is still running)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;runs;list' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Show at most N runs')
            [CompletionResult]::new('--workflow', '--workflow', [CompletionResultType]::ParameterName, 'Only runs of the workflow with exactly this name')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;runs;show' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, '`json` prints run.json exactly as recorded')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;runs;prune' {
            [CompletionResult]::new('--keep', '--keep', [CompletionResultType]::ParameterName, 'Keep the newest N runs, delete the rest')
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Delete runs that started longer ago than this (e.g. `7d`, `12h`). With --keep, a run is deleted only when both rules allow it')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded (runs live in DIR/runs/)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print what would be deleted; delete nothing')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;runs;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Recorded runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'One run''s summary and nodes')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete old run directories (never one that is still running)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;runs;help;list' {
            break
        }
        'secflow;runs;help;show' {
            break
        }
        'secflow;runs;help;prune' {
            break
        }
        'secflow;runs;help;help' {
            break
        }
        'secflow;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on (HOST:PORT). A non-loopback address needs --token-file (or --insecure)')
            [CompletionResult]::new('--state-dir', '--state-dir', [CompletionResultType]::ParameterName, 'Where runs are recorded')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Require `Authorization: Bearer <token>` on every endpoint but /healthz; the token is the file''s first line, trimmed')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Allow a non-loopback --listen without a token')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;job-wrapper' {
            [CompletionResult]::new('--usage-file', '--usage-file', [CompletionResultType]::ParameterName, 'Where to write the usage record (JSON)')
            [CompletionResult]::new('--env-file', '--env-file', [CompletionResultType]::ParameterName, 'Start the command with exactly the variables in this file (deleted once read)')
            [CompletionResult]::new('--chdir', '--chdir', [CompletionResultType]::ParameterName, 'Working directory of the command')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;graph' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format; an invalid recipe prints its diagnostics and exits 2')
            [CompletionResult]::new('--max-bytes', '--max-bytes', [CompletionResultType]::ParameterName, 'Largest recipe file accepted, in bytes')
            [CompletionResult]::new('--max-nodes', '--max-nodes', [CompletionResultType]::ParameterName, 'Most nodes a recipe may declare')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'secflow;emit' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'A log record (logs.jsonl, with the attempt''s trace and span ids)')
            [CompletionResult]::new('metric', 'metric', [CompletionResultType]::ParameterValue, 'A metric sample: a counter increment, a gauge value or a histogram observation')
            [CompletionResult]::new('progress', 'progress', [CompletionResultType]::ParameterValue, 'The tool''s progress, 0 to 1 (shown on the progress display)')
            [CompletionResult]::new('finding', 'finding', [CompletionResultType]::ParameterValue, 'A finding: a JSON object')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;emit;log' {
            [CompletionResult]::new('--level', '--level', [CompletionResultType]::ParameterName, 'trace, debug, info, warn or error')
            [CompletionResult]::new('--message', '--message', [CompletionResultType]::ParameterName, 'message')
            [CompletionResult]::new('--field', '--field', [CompletionResultType]::ParameterName, 'An extra field of the record''s metadata (repeatable); the value is kept as text')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;emit;metric' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'A Prometheus name (counters get `_total` when it is missing)')
            [CompletionResult]::new('--type', '--type', [CompletionResultType]::ParameterName, 'type')
            [CompletionResult]::new('--value', '--value', [CompletionResultType]::ParameterName, 'value')
            [CompletionResult]::new('--label', '--label', [CompletionResultType]::ParameterName, 'A label (repeatable); `node_id` and `plugin_name` are secflow''s')
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;emit;progress' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;emit;finding' {
            [CompletionResult]::new('--debug', '--debug', [CompletionResultType]::ParameterName, 'Debug mode: debug records in logs.jsonl and on the console, the resolved plan before execution, a failing node''s config and stderr tail (like SECFLOW_LOG_LEVEL=DEBUG)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'secflow;emit;help' {
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'A log record (logs.jsonl, with the attempt''s trace and span ids)')
            [CompletionResult]::new('metric', 'metric', [CompletionResultType]::ParameterValue, 'A metric sample: a counter increment, a gauge value or a histogram observation')
            [CompletionResult]::new('progress', 'progress', [CompletionResultType]::ParameterValue, 'The tool''s progress, 0 to 1 (shown on the progress display)')
            [CompletionResult]::new('finding', 'finding', [CompletionResultType]::ParameterValue, 'A finding: a JSON object')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;emit;help;log' {
            break
        }
        'secflow;emit;help;metric' {
            break
        }
        'secflow;emit;help;progress' {
            break
        }
        'secflow;emit;help;finding' {
            break
        }
        'secflow;emit;help;help' {
            break
        }
        'secflow;help' {
            [CompletionResult]::new('validate-recipe', 'validate-recipe', [CompletionResultType]::ParameterValue, 'Check recipes and report every problem with file:line:col')
            [CompletionResult]::new('run-workflow', 'run-workflow', [CompletionResultType]::ParameterValue, 'Run a workflow and record it under <state-dir>/runs/<run-id>/')
            [CompletionResult]::new('performance-analysis', 'performance-analysis', [CompletionResultType]::ParameterValue, 'Performance report from recorded runs: one, several, or against a baseline')
            [CompletionResult]::new('schema', 'schema', [CompletionResultType]::ParameterValue, 'Print the JSON Schema of the recipe format (or of a record kind)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print shell completions')
            [CompletionResult]::new('plugins', 'plugins', [CompletionResultType]::ParameterValue, 'List the node types available and where each comes from')
            [CompletionResult]::new('stub', 'stub', [CompletionResultType]::ParameterValue, 'Simulate one of SecFlow''s tools (used by the built-in plugins)')
            [CompletionResult]::new('audit', 'audit', [CompletionResultType]::ParameterValue, 'Check a run''s tamper-evident audit trail')
            [CompletionResult]::new('metrics', 'metrics', [CompletionResultType]::ParameterValue, 'Print a run''s metrics snapshot (table, json or Prometheus text)')
            [CompletionResult]::new('logs', 'logs', [CompletionResultType]::ParameterValue, 'Show a run''s logs, or a node''s captured stdout/stderr')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Send a recorded run''s spans, logs and metrics to an OpenTelemetry collector')
            [CompletionResult]::new('runs', 'runs', [CompletionResultType]::ParameterValue, 'The history of recorded runs: list, show, prune')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve a state directory: web UI, /metrics, /api/runs, health (read-only)')
            [CompletionResult]::new('job-wrapper', 'job-wrapper', [CompletionResultType]::ParameterValue, 'Run one attempt''s command inside a Slurm job and record its usage (internal)')
            [CompletionResult]::new('graph', 'graph', [CompletionResultType]::ParameterValue, 'Draw a recipe''s DAG (DOT, Mermaid, JSON or a self-contained SVG)')
            [CompletionResult]::new('emit', 'emit', [CompletionResultType]::ParameterValue, 'Send a log line, metric, progress or finding from a node''s tool to secflow (SECFLOW_EVENTS); outside a run it warns and exits 0')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'secflow;help;validate-recipe' {
            break
        }
        'secflow;help;run-workflow' {
            break
        }
        'secflow;help;performance-analysis' {
            break
        }
        'secflow;help;schema' {
            break
        }
        'secflow;help;completions' {
            break
        }
        'secflow;help;plugins' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Node types: type, plugin, version, category, source')
            break
        }
        'secflow;help;plugins;list' {
            break
        }
        'secflow;help;stub' {
            break
        }
        'secflow;help;audit' {
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a run''s audit chain: exit 0 intact, 1 tampered, 2 usage error or wrong key, 3 unfinished run')
            [CompletionResult]::new('head', 'head', [CompletionResultType]::ParameterValue, 'Print the head of a run''s chain (run_id, seq, last_hash, key_id) as one JSON line, to keep where the run''s tools cannot reach (a witness for `verify --witness`)')
            break
        }
        'secflow;help;audit;verify' {
            break
        }
        'secflow;help;audit;head' {
            break
        }
        'secflow;help;metrics' {
            break
        }
        'secflow;help;logs' {
            break
        }
        'secflow;help;export' {
            break
        }
        'secflow;help;runs' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'Recorded runs, newest first')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'One run''s summary and nodes')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Delete old run directories (never one that is still running)')
            break
        }
        'secflow;help;runs;list' {
            break
        }
        'secflow;help;runs;show' {
            break
        }
        'secflow;help;runs;prune' {
            break
        }
        'secflow;help;serve' {
            break
        }
        'secflow;help;job-wrapper' {
            break
        }
        'secflow;help;graph' {
            break
        }
        'secflow;help;emit' {
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'A log record (logs.jsonl, with the attempt''s trace and span ids)')
            [CompletionResult]::new('metric', 'metric', [CompletionResultType]::ParameterValue, 'A metric sample: a counter increment, a gauge value or a histogram observation')
            [CompletionResult]::new('progress', 'progress', [CompletionResultType]::ParameterValue, 'The tool''s progress, 0 to 1 (shown on the progress display)')
            [CompletionResult]::new('finding', 'finding', [CompletionResultType]::ParameterValue, 'A finding: a JSON object')
            break
        }
        'secflow;help;emit;log' {
            break
        }
        'secflow;help;emit;metric' {
            break
        }
        'secflow;help;emit;progress' {
            break
        }
        'secflow;help;emit;finding' {
            break
        }
        'secflow;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
