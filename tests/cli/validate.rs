//! `secflow validate-recipe`: every fixture pinned by the exact text and exit code it gives.
//!
//! `fixtures/invalid/NAME.yaml` must exit 2, `fixtures/warnings/NAME.yaml` must exit 0; each
//! has `NAME.stderr` beside it holding the exact stderr. `NAME.args` (optional) replaces the
//! default command line `validate-recipe fixtures/DIR/NAME.yaml`, so that cases without a
//! recipe file of their own (a missing file, a directory, several files) fit the same scheme.
//! `UPDATE_EXPECT=1 cargo test --test validate` rewrites the expected files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support;
use crate::support::{check_expected, output, secflow, text};

/// One case: its name, command line, and expected exit code.
struct Case {
    dir: &'static str,
    name: String,
    args: Vec<String>,
    status: i32,
}

fn cases(dir: &'static str, status: i32) -> Vec<Case> {
    let root = support::repo_root().join(dir);
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&root).expect("read fixture directory") {
        let path = entry.expect("dir entry").path();
        let ext = path.extension().and_then(|e| e.to_str());
        if matches!(ext, Some("yaml" | "args"))
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.insert(stem.to_string());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let args_file = root.join(format!("{name}.args"));
            let args = match std::fs::read_to_string(&args_file) {
                Ok(line) => line.split_whitespace().map(String::from).collect(),
                Err(_) => vec!["validate-recipe".into(), format!("{dir}/{name}.yaml")],
            };
            Case {
                dir,
                name,
                args,
                status,
            }
        })
        .collect()
}

fn check_all(dir: &'static str, status: i32) {
    let cases = cases(dir, status);
    assert!(!cases.is_empty(), "no fixtures in {dir}");
    // An empty state directory: plugins a developer installed there must not change the text.
    let home = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in &cases {
        // unknown-template-ref.yaml names this variable to show an undeclared, unset env var.
        let out = output(
            secflow()
                .args(&case.args)
                .env("SECFLOW_HOME", home.path())
                .env_remove("SECFLOW_FIXTURE_UNSET_TOKEN"),
        );
        let label = format!(
            "{}/{} (secflow {})",
            case.dir,
            case.name,
            case.args.join(" ")
        );
        if out.status.code() != Some(case.status) {
            failures.push(format!(
                "{label}: exit {:?}, expected {}\n{}",
                out.status.code(),
                case.status,
                text(&out.stderr)
            ));
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{label}: unexpected stdout: {}", text(&out.stdout)));
        }
        let expected = PathBuf::from(case.dir).join(format!("{}.stderr", case.name));
        if let Some(problem) = check_expected(&expected, &text(&out.stderr)) {
            failures.push(format!("{label}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_invalid_fixture_gives_its_exact_diagnostics_and_exit_2() {
    check_all("fixtures/invalid", 2);
}

#[test]
fn warnings_alone_keep_exit_0() {
    check_all("fixtures/warnings", 0);
}

#[test]
fn every_expected_file_has_a_case() {
    for dir in ["fixtures/invalid", "fixtures/warnings"] {
        let root = support::repo_root().join(dir);
        for entry in std::fs::read_dir(&root).expect("read fixture directory") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "stderr") {
                let yaml = path.with_extension("yaml");
                let args = path.with_extension("args");
                assert!(
                    yaml.exists() || args.exists(),
                    "{} is left over: no {} or {}",
                    path.display(),
                    file_name(&yaml),
                    file_name(&args)
                );
            }
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn sample_workflows_are_valid() {
    let root = support::repo_root().join("workflows");
    let mut recipes: Vec<String> = std::fs::read_dir(&root)
        .expect("read workflows")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| format!("workflows/{}", file_name(&p)))
        .collect();
    recipes.sort();
    assert!(recipes.iter().any(|r| r == "workflows/sample-linear.yaml"));
    let out = output(secflow().arg("validate-recipe").args(&recipes));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let expected: String = recipes.iter().map(|r| format!("{r}: valid\n")).collect();
    assert_eq!(stderr, expected);
}

#[test]
fn alias_and_short_name_agree() {
    let long = output(secflow().args(["validate-recipe", "fixtures/invalid/cycle.yaml"]));
    let short = output(secflow().args(["validate", "fixtures/invalid/cycle.yaml"]));
    assert_eq!(long.status.code(), Some(2));
    assert_eq!(long.status.code(), short.status.code());
    assert_eq!(long.stderr, short.stderr);
}

/// SPEC §10 "Mistakes are named": a control character in a file name is escaped in the
/// summary line too, valid or not (a name is the user's, but may still hold ESC).
#[test]
fn a_file_name_with_control_characters_is_escaped_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a\u{1b}[2Jb.yaml");
    std::fs::write(
        &good,
        "version: \"1.0\"\nname: x\nnodes:\n  - { id: a, run: \"true\" }\n",
    )
    .unwrap();
    let bad = dir.path().join("c\u{1b}]0;PWNED\u{7}.yaml");
    std::fs::write(&bad, "version: \"1.0\"\nname: x\nnodes: []\n").unwrap();
    let out = output(secflow().arg("validate").arg(&good).arg(&bad));
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(
        err.contains(": valid\n") && err.contains("1 error found"),
        "{err}"
    );
}

#[test]
fn json_format_is_an_array_of_located_diagnostics() {
    let out = output(secflow().args([
        "validate-recipe",
        "--format",
        "json",
        "fixtures/invalid/many-errors.yaml",
        "fixtures/warnings/unused-output.yaml",
        "fixtures/invalid/empty.yaml",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.is_empty(), "json mode prints nothing on stderr");
    let stdout = text(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let items = value.as_array().expect("an array");
    let keys: BTreeSet<&str> = [
        "file", "line", "column", "severity", "code", "message", "hint",
    ]
    .into_iter()
    .collect();
    for item in items {
        let object = item.as_object().expect("each item is an object");
        let have: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(have, keys, "{item}");
        assert!(item["line"].is_u64() && item["column"].is_u64());
        assert!(item["hint"].is_string() || item["hint"].is_null());
        assert!(matches!(
            item["severity"].as_str(),
            Some("error" | "warning")
        ));
    }
    let count = |file: &str, severity: &str| {
        items
            .iter()
            .filter(|i| i["file"] == file && i["severity"] == severity)
            .count()
    };
    assert_eq!(count("fixtures/invalid/many-errors.yaml", "error"), 13);
    assert_eq!(count("fixtures/warnings/unused-output.yaml", "warning"), 1);
    assert_eq!(count("fixtures/invalid/empty.yaml", "error"), 1);
    let cycle = items
        .iter()
        .find(|i| i["code"] == "cycle")
        .expect("the cycle is reported");
    assert_eq!(cycle["message"], "dependency cycle: c -> d -> c");
    assert_eq!(
        (cycle["line"].as_u64(), cycle["column"].as_u64()),
        (Some(17), Some(9))
    );
    support::assert_expected(Path::new("fixtures/json/validate.stdout"), &stdout);
}

#[test]
fn json_format_of_a_valid_recipe_is_an_empty_array() {
    let out = output(secflow().args([
        "validate",
        "--format",
        "json",
        "workflows/sample-linear.yaml",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value, serde_json::json!([]));
}

#[test]
fn a_file_over_the_default_size_limit_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.yaml");
    let file = std::fs::File::create(&big).expect("create");
    // Sparse: 2 MiB on paper, nothing on disk.
    file.set_len(2 * 1024 * 1024).expect("set_len");
    let out = output(secflow().arg("validate").arg(&big));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error[limit]: file is larger than the limit of 1048576 bytes (2097152 bytes or more)"
        ),
        "{stderr}"
    );
}

#[test]
fn no_file_is_a_usage_error() {
    let out = output(secflow().arg("validate-recipe"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("<FILE>..."));
}

#[test]
fn ordinary_use_of_aliases_stays_within_the_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut recipe = String::from("version: \"1.0\"\nname: aliases\nvars: &common\n");
    for k in 0..20 {
        recipe.push_str(&format!("  K{k}: \"value {k}\"\n"));
    }
    recipe.push_str("nodes:\n");
    for n in 0..500 {
        recipe.push_str(&format!(
            "  - id: n{n}\n    run: \"echo {{{{ env.K7 }}}}\"\n    env: *common\n"
        ));
    }
    let path = dir.path().join("aliases.yaml");
    std::fs::write(&path, recipe).expect("write recipe");
    let out = output(secflow().arg("validate").arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_readme_recipe_example_is_valid() {
    let readme = std::fs::read_to_string(support::repo_root().join("README.md")).expect("README");
    let start = readme.find("```yaml\n").expect("README has a yaml example") + "```yaml\n".len();
    let len = readme[start..].find("```").expect("the example is closed");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("readme-example.yaml");
    std::fs::write(&path, &readme[start..start + len]).expect("write example");
    let out = output(
        secflow()
            .arg("validate-recipe")
            .arg(&path)
            .env("SECFLOW_HOME", dir.path()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

// ---- `secflow graph` (SPEC §11): the validated plan drawn as DOT, Mermaid, JSON and SVG ----

/// `secflow graph FILE --format FORMAT`: (exit code, stdout, stderr).
fn graph(file: &str, format: &str) -> (i32, String, String) {
    let out = output(secflow().args(["graph", file, "--format", format]));
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

const GRAPH_RECIPES: [&str; 6] = [
    "workflows/sample-linear.yaml",
    "workflows/diamond.yaml",
    "workflows/fan-out-fan-in.yaml",
    "workflows/fanout-20-targets.yaml",
    "fixtures/graph/mixed.yaml",
    "fixtures/graph/hostile.yaml",
];

/// Graphviz's `dot`, or `None` (skipped) outside CI; under `CI` a missing `dot` fails.
fn graphviz() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("dot"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "graphviz `dot` is required under CI: apt-get install graphviz (.ci/install.sh)"
        );
        eprintln!("skipped: graphviz not installed");
    }
    found
}

/// Parses `xml` with python3's xml.etree (a real XML parser); returns the text of every
/// `<title>` in document order.
fn xml_titles(xml: &str) -> Result<Vec<String>, String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, xml.etree.ElementTree as E\n\
             root = E.fromstring(sys.stdin.buffer.read())\n\
             for t in root.iter('{http://www.w3.org/2000/svg}title'):\n    \
             print(json.dumps(t.text or ''))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(text(&out.stderr));
    }
    Ok(text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON string"))
        .collect())
}

/// The plan `file` builds to, through the library (the built-in plugins).
fn plan_of(file: &str) -> secflow::plan::Plan {
    let path = support::repo_root().join(file);
    let limits = secflow::recipe::Limits::default();
    let source = secflow::recipe::read_source(&path, &limits).unwrap();
    let raw = secflow::recipe::parse(&source, &limits).unwrap();
    let options = secflow::plan::BuildOptions::default();
    secflow::plan::build(&source, &raw, &options).unwrap().0
}

#[test]
fn graph_mermaid_of_the_sample_workflows_matches_the_golden_files() {
    for (file, golden) in [
        (
            "workflows/sample-linear.yaml",
            "fixtures/graph/sample-linear.mmd",
        ),
        ("workflows/diamond.yaml", "fixtures/graph/diamond.mmd"),
        ("fixtures/graph/mixed.yaml", "fixtures/graph/mixed.mmd"),
    ] {
        let (code, out, err) = graph(file, "mermaid");
        assert_eq!((code, err.as_str()), (0, ""), "{file}");
        if let Some(problem) = check_expected(Path::new(golden), &out) {
            panic!("{problem}");
        }
    }
}

#[test]
fn graph_defaults_to_dot() {
    let out = output(secflow().args(["graph", "workflows/diamond.yaml"]));
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout),
        graph("workflows/diamond.yaml", "dot").1,
        "no --format is --format dot"
    );
}

#[test]
fn graph_of_an_invalid_recipe_prints_validates_diagnostics_and_exits_2() {
    for file in [
        "fixtures/invalid/cycle-data.yaml",
        "fixtures/invalid/bad-dataset-name.yaml",
        "no/such/recipe.yaml",
    ] {
        for format in ["dot", "svg"] {
            let (code, out, err) = graph(file, format);
            assert_eq!(code, 2, "{file}: {err}");
            assert_eq!(out, "", "{file}: nothing drawn");
            let validate = output(secflow().args(["validate-recipe", file]));
            assert_eq!(
                err,
                text(&validate.stderr),
                "{file}: same diagnostics as validate"
            );
        }
    }
}

#[test]
fn graph_json_nodes_and_edges_are_the_plans() {
    for file in GRAPH_RECIPES {
        let (code, out, err) = graph(file, "json");
        assert_eq!(code, 0, "{file}: {err}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["schema_version"], 1);
        let plan = plan_of(file);
        assert_eq!(doc["workflow"], plan.name.as_str(), "{file}");
        let nodes = doc["nodes"].as_array().unwrap();
        let got: Vec<(String, String, u64)> = nodes
            .iter()
            .map(|n| {
                (
                    n["id"].as_str().unwrap().to_string(),
                    n["type"].as_str().unwrap().to_string(),
                    n["level"].as_u64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, String, u64)> = plan
            .nodes
            .iter()
            .map(|n| (n.id.clone(), n.kind.clone(), n.level as u64))
            .collect();
        assert_eq!(got, want, "{file}: nodes");
        // The (from, to) pairs are exactly the plan's dependencies; a data edge per input.
        let mut pairs = BTreeSet::new();
        let mut data = BTreeSet::new();
        for e in doc["edges"].as_array().unwrap() {
            let (from, to) = (e["from"].as_str().unwrap(), e["to"].as_str().unwrap());
            pairs.insert((from.to_string(), to.to_string()));
            match e["kind"].as_str().unwrap() {
                "data" => {
                    let d = e["dataset"].as_str().unwrap();
                    let producer = &plan.nodes[plan.node_index(from).unwrap()];
                    let consumer = &plan.nodes[plan.node_index(to).unwrap()];
                    assert!(producer.outputs.iter().any(|o| o == d), "{file}: {e}");
                    assert!(consumer.inputs.iter().any(|i| i == d), "{file}: {e}");
                    data.insert((to.to_string(), d.to_string()));
                }
                "order" => assert!(e["dataset"].is_null(), "{file}: {e}"),
                other => panic!("{file}: edge kind {other}"),
            }
        }
        let want_pairs: BTreeSet<(String, String)> = plan
            .nodes
            .iter()
            .flat_map(|n| {
                n.deps
                    .iter()
                    .map(|&d| (plan.nodes[d].id.clone(), n.id.clone()))
            })
            .collect();
        assert_eq!(pairs, want_pairs, "{file}: edges");
        let want_data: BTreeSet<(String, String)> = plan
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter().map(|i| (n.id.clone(), i.clone())))
            .collect();
        assert_eq!(data, want_data, "{file}: one data edge per input");
    }
    // `depends_on` without a dataset is an order edge; with one, the data edge stands for it.
    let (_, out, _) = graph("fixtures/graph/mixed.yaml", "json");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<String> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}>{}:{}", e["from"], e["to"], e["kind"]))
        .collect();
    assert_eq!(
        kinds,
        [
            r#""fetch">"scan":"data""#,
            r#""fetch">"scan":"data""#,
            r#""migrate">"scan":"order""#,
            r#""scan">"report":"data""#,
        ]
    );
}

#[test]
fn graph_dot_is_accepted_by_graphviz() {
    let Some(dot) = graphviz() else { return };
    let dir = tempfile::tempdir().unwrap();
    for file in GRAPH_RECIPES {
        let (code, out, err) = graph(file, "dot");
        assert_eq!(code, 0, "{file}: {err}");
        let input = dir.path().join("g.dot");
        std::fs::write(&input, &out).unwrap();
        let svg = output(std::process::Command::new(&dot).arg("-Tsvg").arg(&input));
        assert!(
            svg.status.success() && svg.stderr.is_empty(),
            "{file}: dot refused it: {}\n{out}",
            text(&svg.stderr)
        );
        // Graphviz drew every node: each id is the <title> of one of its node groups.
        let titles = xml_titles(&text(&svg.stdout)).expect("dot's SVG parses");
        for node in plan_of(file).nodes {
            assert!(titles.contains(&node.id), "{file}: {}", node.id);
        }
        if file.ends_with("mixed.yaml") {
            assert!(
                out.contains("\"migrate\" -> \"scan\" [style=dashed];"),
                "{out}"
            );
            assert!(
                out.contains("\"fetch\" -> \"scan\" [label=\"hosts\"];"),
                "{out}"
            );
        }
    }
}

#[test]
fn graph_svg_is_well_formed_and_draws_every_node_and_dataset() {
    for file in GRAPH_RECIPES {
        let (code, out, err) = graph(file, "svg");
        assert_eq!(code, 0, "{file}: {err}");
        assert!(
            out.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{file}"
        );
        let titles = xml_titles(&out).unwrap_or_else(|e| panic!("{file}: not XML: {e}\n{out}"));
        let plan = plan_of(file);
        for node in &plan.nodes {
            assert!(titles.contains(&node.id), "{file}: {}", node.id);
        }
        for input in plan.nodes.iter().flat_map(|n| &n.inputs) {
            assert!(out.contains(input.as_str()), "{file}: dataset {input}");
        }
        // Self-contained: nothing fetched from elsewhere, no script.
        for banned in ["<script", "href=\"http", "xlink:href", "@import"] {
            assert!(!out.contains(banned), "{file}: {banned}");
        }
    }
    let (_, out, _) = graph("fixtures/graph/mixed.yaml", "svg");
    assert_eq!(out.matches("stroke-dasharray").count(), 1, "one order edge");
    assert!(
        out.contains(">hosts, ports</text>"),
        "parallel edges share one curve"
    );
}

/// The workflow name of fixtures/graph/hostile.yaml: quotes, DOT syntax, `\N`, a script tag,
/// a CDATA end, entity codes, a backtick, a pipe, an arrow, a newline, a CR and a bidi
/// override — as the recipe holds it, and as every format must show it (one line).
const HOSTILE: &str = "x\" ]; evil [label=\"pwned\"]; \\N <script>alert(1)</script> ]]> &amp; \
                       #quot; `tick` | pipe -->\nsecond line\r\u{202E}right-to-left";

#[test]
fn graph_escapes_hostile_names_in_every_format() {
    let file = "fixtures/graph/hostile.yaml";
    let shown = HOSTILE.replace(['\n', '\r', '\u{202E}'], " ");
    // JSON: the exact name, escaped by serde.
    let (_, json, _) = graph(file, "json");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["workflow"], HOSTILE);
    // DOT: one quoted string that Graphviz reads back as the name (checked by drawing it:
    // the graph label is the SVG's first text).
    let (_, dot, _) = graph(file, "dot");
    assert_eq!(dot.lines().count(), 8, "no line added:\n{dot}");
    assert!(!dot.contains("\n  evil"), "{dot}");
    let label = dot.lines().nth(1).unwrap();
    assert!(
        label.starts_with(r#"  graph [label="x\" ]; evil [label=\"pwned\"]; \\N <script>"#),
        "{label}"
    );
    if let Some(bin) = graphviz() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g.dot"), &dot).unwrap();
        let svg = output(
            std::process::Command::new(bin)
                .arg("-Tsvg")
                .arg(dir.path().join("g.dot")),
        );
        assert!(svg.status.success(), "{}", text(&svg.stderr));
        let titles = xml_titles(&text(&svg.stdout)).unwrap();
        // Graphviz names the graph `secflow` and draws exactly the recipe's nodes and edge.
        assert_eq!(titles.len(), 1 + 2 + 1, "{titles:?}");
        assert!(
            !text(&svg.stdout).contains("pwned\""),
            "no node `evil` was injected"
        );
    }
    // Mermaid: entity codes, nothing that ends the string or reaches HTML.
    let (_, mermaid, _) = graph(file, "mermaid");
    assert_eq!(mermaid.lines().count(), 5, "no line added:\n{mermaid}");
    let comment = mermaid.lines().nth(1).unwrap();
    assert!(
        comment.starts_with("  %% workflow: x#quot; ]; evil"),
        "{comment}"
    );
    for raw in ["<script", "</script", "\"pwned", "`tick`", "]]>", "-->\n"] {
        assert!(!mermaid.contains(raw), "{raw} in:\n{mermaid}");
    }
    // SVG: parses, and the parsed title is the name shown on one line.
    let (_, svg, _) = graph(file, "svg");
    let titles = xml_titles(&svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(titles[0], shown);
    assert!(!svg.contains("<script"), "{svg}");
    assert!(!svg.contains("]]>"), "{svg}");
}
