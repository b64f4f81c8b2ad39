//! A Piper voice's `.onnx.json`: what the model expects and how it sounds by default.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{EngineError, VoiceInfo};

/// One Piper voice: the model file and what its config says about it.
#[derive(Debug, Clone)]
pub struct PiperVoice {
    /// File stem, e.g. `en_US-joe-medium`: the voice id and the metric label.
    pub id: String,
    /// The `.onnx` file.
    pub model: PathBuf,
    /// Samples per second of the model's output.
    pub sample_rate: u32,
    /// espeak-ng voice that makes the phonemes the model was trained on.
    pub espeak_voice: String,
    /// Language tag in lower case, e.g. `en-us`.
    pub language: String,
    /// Human name.
    pub name: String,
    /// One id sequence per phoneme character.
    pub phoneme_ids: HashMap<char, Vec<i64>>,
    /// Variation in the voice (0 = none).
    pub noise_scale: f32,
    /// Length of phonemes: larger is slower.
    pub length_scale: f32,
    /// Variation in phoneme length (0 = none).
    pub noise_w: f32,
    /// Speakers in the model; more than one needs a speaker id input.
    pub num_speakers: u32,
}

#[derive(Deserialize)]
struct Config {
    audio: Audio,
    espeak: Espeak,
    #[serde(default)]
    inference: Inference,
    #[serde(default)]
    phoneme_type: Option<String>,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    num_speakers: u32,
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    dataset: Option<String>,
}

#[derive(Deserialize)]
struct Audio {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct Espeak {
    voice: String,
}

#[derive(Deserialize)]
struct Inference {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

impl Default for Inference {
    fn default() -> Self {
        // Piper's own defaults.
        Self {
            noise_scale: 0.667,
            length_scale: 1.0,
            noise_w: 0.8,
        }
    }
}

#[derive(Deserialize)]
struct Language {
    code: String,
    #[serde(default)]
    name_english: Option<String>,
    #[serde(default)]
    country_english: Option<String>,
}

fn one() -> u32 {
    1
}

impl PiperVoice {
    /// Reads `<model>.json` beside `model`; the error names whichever file is missing or wrong.
    pub fn read(model: &Path) -> Result<Self, EngineError> {
        let config_path = PathBuf::from(format!("{}.json", model.display()));
        let bad = |message: String| EngineError::Model {
            path: config_path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&config_path).map_err(|e| bad(e.to_string()))?;
        let config: Config = serde_json::from_str(&text).map_err(|e| bad(format!("not a Piper voice config: {e}")))?;
        if config.phoneme_type.as_deref().is_some_and(|t| t != "espeak") {
            return Err(bad(format!(
                "phoneme_type {:?} is not supported (only espeak)",
                config.phoneme_type
            )));
        }
        let mut phoneme_ids = HashMap::new();
        for (phoneme, ids) in config.phoneme_id_map {
            let mut chars = phoneme.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => {
                    phoneme_ids.insert(c, ids);
                }
                _ => return Err(bad(format!("phoneme {phoneme:?} is not one character"))),
            }
        }
        for required in [super::phonemes::PAD, super::phonemes::BOS, super::phonemes::EOS] {
            if !phoneme_ids.contains_key(&required) {
                return Err(bad(format!("phoneme_id_map lacks {required:?}")));
            }
        }
        let id = model
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("the model file has no name".into()))?
            .to_owned();
        let (language, name) = match &config.language {
            Some(l) => (
                l.code.replace('_', "-").to_ascii_lowercase(),
                match (&l.name_english, &l.country_english) {
                    (Some(n), Some(c)) => format!("{n} ({c})"),
                    (Some(n), None) => n.clone(),
                    _ => l.code.clone(),
                },
            ),
            None => (config.espeak.voice.to_ascii_lowercase(), config.espeak.voice.clone()),
        };
        let name = match &config.dataset {
            Some(dataset) => format!("{dataset}, {name}"),
            None => name,
        };
        Ok(Self {
            id,
            model: model.to_path_buf(),
            sample_rate: config.audio.sample_rate,
            espeak_voice: config.espeak.voice,
            language,
            name,
            phoneme_ids,
            noise_scale: config.inference.noise_scale,
            length_scale: config.inference.length_scale,
            noise_w: config.inference.noise_w,
            num_speakers: config.num_speakers,
        })
    }

    /// What callers see of it, with the OpenAI names that map onto it.
    pub fn info(&self, aliases: Vec<String>) -> VoiceInfo {
        VoiceInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            language: self.language.clone(),
            gender: None,
            aliases,
            sample_rate: self.sample_rate,
        }
    }
}
