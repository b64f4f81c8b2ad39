//! The engines one process serves, looked up by name.

use std::sync::Arc;

use crate::Synthesizer;

/// Engines by name, in the order they were configured.
#[derive(Clone, Default)]
pub struct Engines(Vec<Arc<dyn Synthesizer>>);

impl Engines {
    /// The given engines; a later one with a name already taken is ignored.
    pub fn new(engines: impl IntoIterator<Item = Arc<dyn Synthesizer>>) -> Self {
        let mut list: Vec<Arc<dyn Synthesizer>> = Vec::new();
        for engine in engines {
            if !list.iter().any(|e| e.name() == engine.name()) {
                list.push(engine);
            }
        }
        Self(list)
    }

    /// The engine called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Synthesizer>> {
        self.0.iter().find(|e| e.name() == name)
    }

    /// Every engine.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Synthesizer>> {
        self.0.iter()
    }
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|e| e.name())).finish()
    }
}
