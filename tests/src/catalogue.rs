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
        let path = repo_root().join("monitoring/metrics.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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
