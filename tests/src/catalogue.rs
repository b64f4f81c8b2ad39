//! The metrics catalogue (`monitoring/metrics.yaml`): reading it, rendering
//! `docs/metrics.md` from it, and reading metric families from an exposition.

use std::{collections::BTreeMap, path::PathBuf};

use serde::Deserialize;

/// The whole catalogue.
#[derive(Debug, Deserialize)]
pub struct Catalogue {
    /// Sections, in order.
    pub groups: Vec<Group>,
}

/// A section of related metrics.
#[derive(Debug, Deserialize)]
pub struct Group {
    /// Section title.
    pub name: String,
    /// Its metrics.
    pub metrics: Vec<Metric>,
}

/// One metric family.
#[derive(Debug, Deserialize)]
pub struct Metric {
    /// Family name as exposed.
    pub name: String,
    /// The source file that names it (where its name constant lives).
    pub source: String,
    /// counter, gauge or histogram.
    #[serde(rename = "type")]
    pub kind: String,
    /// Unit.
    pub unit: String,
    /// Binaries that expose it: api, worker.
    pub emitted_by: Vec<String>,
    /// Label name → allowed values.
    pub labels: BTreeMap<String, String>,
    /// Meaning.
    pub help: String,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

impl Catalogue {
    /// The catalogue this binary was built with (for tools run away from the repository).
    pub fn embedded() -> Self {
        serde_norway::from_str(include_str!("../../monitoring/metrics.yaml")).expect("monitoring/metrics.yaml parses")
    }

    /// Reads `monitoring/metrics.yaml`.
    pub fn load() -> Self {
        Self::from_path(&repo_root().join("monitoring/metrics.yaml"))
    }

    /// Reads a catalogue file (a generated service's, for instance).
    pub fn from_path(path: &std::path::Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Family name → type for the metrics `binary` exposes.
    pub fn families(&self, binary: &str) -> BTreeMap<String, String> {
        self.groups
            .iter()
            .flat_map(|g| &g.metrics)
            .filter(|m| m.emitted_by.iter().any(|b| b == binary))
            .map(|m| (m.name.clone(), m.kind.clone()))
            .collect()
    }

    /// Metrics whose `source` file does not name them: the file is missing, or its text
    /// lacks the family's name (`process_*` families come from the metrics-process collector
    /// and `<namespace>_build_info` from a format string, so for those the file must start
    /// that collector or build that name).
    pub fn misplaced_sources(&self) -> Vec<String> {
        self.metrics()
            .filter_map(|m| {
                let path = repo_root().join(&m.source);
                let Ok(text) = std::fs::read_to_string(&path) else {
                    return Some(format!("{}: {} does not exist", m.name, m.source));
                };
                let named = if m.name.starts_with("process_") {
                    text.contains("metrics_process::Collector")
                } else if m.name.ends_with("_build_info") {
                    text.contains("_build_info\"")
                } else {
                    text.contains(&format!("\"{}\"", m.name))
                };
                (!named).then(|| format!("{}: not named in {}", m.name, m.source))
            })
            .collect()
    }

    /// Every metric.
    pub fn metrics(&self) -> impl Iterator<Item = &Metric> {
        self.groups.iter().flat_map(|g| &g.metrics)
    }

    /// `docs/metrics.md` as it should read.
    pub fn markdown(&self) -> String {
        let total: usize = self.groups.iter().map(|g| g.metrics.len()).sum();
        let mut out = String::from(
            "# Metrics catalogue\n\n<!-- Generated from monitoring/metrics.yaml by the `docs_metrics_md_matches_the_catalogue` test:\n     run `UPDATE_METRICS_DOC=1 scripts/test.sh -E 'test(docs_metrics_md)'` after editing the YAML. -->\n\n",
        );
        out.push_str(&format!(
            "{total} metric families. Histograms also expose `_bucket`, `_sum` and `_count`. Labels are bounded: route \
             templates, never raw paths, ids, keys or text. The api serves `/metrics` on :8000, the worker on :8001. \
             A test holds this list and both `/metrics` outputs equal.\n\n"
        ));
        for group in &self.groups {
            out.push_str(&format!(
                "## {}\n\n| Metric | Type | Unit | Labels | Emitted by | Meaning |\n|---|---|---|---|---|---|\n",
                group.name
            ));
            for m in &group.metrics {
                let labels = if m.labels.is_empty() {
                    "—".to_owned()
                } else {
                    m.labels
                        .iter()
                        .map(|(k, v)| format!("`{k}`: {v}"))
                        .collect::<Vec<_>>()
                        .join("<br>")
                };
                out.push_str(&format!(
                    "| `{}` | {} | {} | {} | {} | {} |\n",
                    m.name,
                    m.kind,
                    m.unit,
                    labels.replace('|', "\\|"),
                    m.emitted_by.join(", "),
                    m.help.replace('|', "\\|")
                ));
            }
            out.push('\n');
        }
        out
    }
}

/// Family name → type from `# TYPE` lines of a Prometheus text exposition.
pub fn exposed_families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

impl Catalogue {
    /// Asserts that `exposition` (what `binary` serves at `/metrics`) holds exactly the
    /// catalogue's families for it, each of the catalogued type and with HELP text.
    pub fn assert_exposed_exactly(&self, binary: &str, exposition: &str) {
        let exposed = exposed_families(exposition);
        let expected = self.families(binary);
        let missing: Vec<_> = expected.keys().filter(|k| !exposed.contains_key(*k)).collect();
        let undocumented: Vec<_> = exposed.keys().filter(|k| !expected.contains_key(*k)).collect();
        assert!(
            missing.is_empty(),
            "{binary}: in the catalogue but not exposed: {missing:?}"
        );
        assert!(
            undocumented.is_empty(),
            "{binary}: exposed but not in the catalogue: {undocumented:?}"
        );
        for (name, kind) in &exposed {
            assert_eq!(&expected[name], kind, "{binary}: {name} has the wrong type");
            assert!(
                exposition.contains(&format!("# HELP {name} ")),
                "{binary}: {name} has no HELP"
            );
        }
    }
}

/// Asserts that `promtool check metrics` can parse `exposition` (its lint hints are printed).
pub fn promtool_check(exposition: &str, what: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/setup.sh installs Debian's prometheus package)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // promtool exits 1 for lint hints too; only a parse error means invalid exposition.
    assert!(
        !report.contains("error while linting") && !report.contains("text format parsing error"),
        "{what}: {report}"
    );
    for line in report.lines().filter(|l| !l.trim().is_empty()) {
        eprintln!("promtool {what}: {line}");
    }
}
