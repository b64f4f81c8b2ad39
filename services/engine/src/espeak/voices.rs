//! espeak-ng's voice and variant lists, and how names resolve against them.

use crate::VoiceInfo;

/// OpenAI voice names mapped to an English espeak-ng voice plus a variant, chosen so that no
/// two aliases sound alike. An alias whose voice or variant is missing from the installed
/// espeak-ng is dropped rather than resolved to something else.
const OPENAI_ALIASES: [(&str, &str, &str); 13] = [
    ("alloy", "en-us", "f3"),
    ("ash", "en-us", "m3"),
    ("ballad", "en-gb", "m5"),
    ("coral", "en-us", "f4"),
    ("echo", "en-us", "m2"),
    ("fable", "en-gb", "m4"),
    ("onyx", "en-us", "m7"),
    ("nova", "en-us", "f2"),
    ("sage", "en-us", "f5"),
    ("shimmer", "en-gb", "f2"),
    ("verse", "en-us", "m6"),
    ("marin", "en-us", "f1"),
    ("cedar", "en-us", "m1"),
];

/// Voices, variants and aliases of one espeak-ng installation.
#[derive(Debug, Clone)]
pub(crate) struct VoiceTable {
    voices: Vec<VoiceInfo>,
    /// espeak-ng's voice file for each entry of `voices`, e.g. `gmw/en` for en-gb.
    files: Vec<String>,
    variants: Vec<String>,
    /// (alias, index into `voices`, variant)
    aliases: Vec<(String, usize, String)>,
}

/// A name resolved against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// What callers see: `en-gb` or `en-gb+m4`.
    pub(crate) id: String,
    /// What `-v` gets: `gmw/en` or `gmw/en+m4`.
    pub(crate) arg: String,
}

impl VoiceTable {
    /// Build from the output of `espeak-ng --voices` and `espeak-ng --voices=variant`.
    pub(crate) fn parse(voices_listing: &str, variants_listing: &str) -> Self {
        let (mut voices, files) = parse_voices(voices_listing);
        let variants = parse_variants(variants_listing);
        let mut aliases = Vec::new();
        for (alias, base, variant) in OPENAI_ALIASES {
            let Some(index) = voices.iter().position(|v| v.id == base) else {
                continue;
            };
            if !variants.iter().any(|v| v == variant) {
                continue;
            }
            voices[index].aliases.push(alias.to_owned());
            aliases.push((alias.to_owned(), index, variant.to_owned()));
        }
        VoiceTable {
            voices,
            files,
            variants,
            aliases,
        }
    }

    pub(crate) fn voices(&self) -> &[VoiceInfo] {
        &self.voices
    }

    pub(crate) fn variants(&self) -> &[String] {
        &self.variants
    }

    /// Look up a voice id, an alias, or `voice+variant`, case-insensitively.
    ///
    /// Only ids, file names and variant names taken from espeak-ng's own lists come back, so
    /// whatever the caller typed, `arg` cannot smuggle an option or a path into the command line.
    pub(crate) fn resolve(&self, name: &str) -> Option<Resolved> {
        let wanted = name.trim();
        if let Some((_, index, variant)) = self
            .aliases
            .iter()
            .find(|(alias, _, _)| alias.eq_ignore_ascii_case(wanted))
        {
            return Some(self.resolved(*index, Some(variant)));
        }
        let (base, variant) = match wanted.split_once('+') {
            Some((base, variant)) => (base, Some(variant)),
            None => (wanted, None),
        };
        let index = self.voices.iter().position(|v| v.id.eq_ignore_ascii_case(base))?;
        let variant = match variant {
            None => None,
            // espeak-ng looks variants up as file names, so the canonical spelling matters:
            // `en-us+alex` silently falls back to plain en-us while `en-us+Alex` works.
            Some(variant) => Some(self.variants.iter().find(|v| v.eq_ignore_ascii_case(variant))?),
        };
        Some(self.resolved(index, variant.map(String::as_str)))
    }

    fn resolved(&self, index: usize, variant: Option<&str>) -> Resolved {
        let (id, file) = (&self.voices[index].id, &self.files[index]);
        match variant {
            None => Resolved {
                id: id.clone(),
                arg: file.clone(),
            },
            Some(variant) => Resolved {
                id: format!("{id}+{variant}"),
                arg: format!("{file}+{variant}"),
            },
        }
    }
}

/// One row of `espeak-ng --voices`: `Pty Language Age/Gender VoiceName File Other Languages`.
struct Row<'a> {
    language: &'a str,
    age_gender: &'a str,
    name: &'a str,
    file: &'a str,
}

fn rows(listing: &str) -> impl Iterator<Item = Row<'_>> {
    listing.lines().filter_map(|line| {
        let (priority, rest) = next_field(line)?;
        // Skips the header line.
        priority.parse::<u32>().ok()?;
        let (language, rest) = next_field(rest)?;
        let (age_gender, rest) = next_field(rest)?;
        let (name, rest) = next_field(rest)?;
        // The file column may hold a space (`!v/Mr serious`) while the other-languages column
        // always opens with `(`, so the file runs up to the first `(`.
        let file = rest.split('(').next().unwrap_or_default().trim();
        (!file.is_empty()).then_some(Row {
            language,
            age_gender,
            name,
            file,
        })
    })
}

fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    Some(s.split_at(s.find(char::is_whitespace).unwrap_or(s.len())))
}

/// Voices plus the voice file of each.
///
/// `-v` gets the file rather than the language: by language, espeak-ng 1.51 ignores the
/// variant of `en-gb+m4` and cannot find `chr-US-Qaaa-x-west` at all.
fn parse_voices(listing: &str) -> (Vec<VoiceInfo>, Vec<String>) {
    let mut voices: Vec<VoiceInfo> = Vec::new();
    let mut files = Vec::new();
    for row in rows(listing) {
        // mbrola voices need the separate mbrola program and databases, which are not installed.
        if row.language == "variant" || row.file.starts_with("mb/") {
            continue;
        }
        let id = row.language.to_ascii_lowercase();
        // Later rows with the same language (yue, yue-Latn-jyutping) would be unreachable by id.
        if !plain(&id, "-") || !plain(row.file, "-_/") || voices.iter().any(|v| v.id == id) {
            continue;
        }
        let gender = match row.age_gender.rsplit('/').next() {
            Some("M") => Some("male".to_owned()),
            Some("F") => Some("female".to_owned()),
            _ => None,
        };
        voices.push(VoiceInfo {
            language: id.clone(),
            id,
            name: row.name.replace('_', " ").trim().to_owned(),
            gender,
            aliases: Vec::new(),
            // espeak-ng speaks at one rate whatever the voice.
            sample_rate: 22_050,
        });
        files.push(row.file.to_owned());
    }
    (voices, files)
}

/// Letters, digits and `extra`, starting with a letter or digit: safe as part of `-v`.
fn plain(s: &str, extra: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

fn parse_variants(listing: &str) -> Vec<String> {
    let mut variants: Vec<String> = Vec::new();
    for row in rows(listing) {
        let Some(name) = row.file.strip_prefix("!v/") else {
            continue;
        };
        // Letters and digits only: the name is appended to `-v` after a `+`.
        if !plain(name, "") {
            continue;
        }
        if !variants.iter().any(|v| v.eq_ignore_ascii_case(name)) {
            variants.push(name.to_owned());
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOICES: &str = "\
Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  af              --/M      Afrikaans          gmw/af               
 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn              (zh-cmn 5)(zh 5)
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  chr-US-Qaaa-x-west --/M      Cherokee_          iro/chr              
 5  yue             --/M      Chinese_(Cantonese) sit/yue              (zh-yue 5)(zh 8)
 5  yue             --/M      Chinese_(Cantonese,_latin_as_Jyutping) sit/yue-Latn-jyutping (zh-yue 5)(zh 8)
 5  en              70/F      en1                mb/mb-en1            
 5  variant         --/F      female3            !v/f3                
 5  de              --/F      German_Woman       gmw/de               
";

    const VARIANTS: &str = "\
Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  variant         --/M      Alex               !v/Alex              
 5  variant         --/M      Mr_Serious         !v/Mr serious        
 5  variant         --/M      Storm              !v/Storm             (en-us 5)
 5  variant         --/F      female2            !v/f2                
 5  variant         --/F      female3            !v/f3                
 5  variant         --/M      male3              !v/m3                
";

    fn table() -> VoiceTable {
        VoiceTable::parse(VOICES, VARIANTS)
    }

    fn id(table: &VoiceTable, name: &str) -> Option<String> {
        table.resolve(name).map(|r| r.id)
    }

    #[test]
    fn voice_rows_become_unique_usable_voices() {
        let table = table();
        let ids: Vec<&str> = table.voices().iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["af", "cmn", "en-gb", "en-us", "chr-us-qaaa-x-west", "yue", "de"]);
        let cmn = &table.voices()[1];
        assert_eq!(cmn.name, "Chinese (Mandarin, latin as English)");
        assert_eq!(cmn.language, "cmn");
        assert_eq!(cmn.gender.as_deref(), Some("male"));
        assert_eq!(table.voices()[5].name, "Chinese (Cantonese)");
        assert_eq!(table.voices()[6].gender.as_deref(), Some("female"));
    }

    #[test]
    fn variants_keep_file_names_and_drop_ones_with_spaces() {
        assert_eq!(table().variants(), ["Alex", "Storm", "f2", "f3", "m3"]);
    }

    #[test]
    fn aliases_need_both_voice_and_variant() {
        let table = table();
        let en_us = table.voices().iter().find(|v| v.id == "en-us").unwrap();
        // f4, f5, m2, m6, m7 are absent from this variant list.
        assert_eq!(en_us.aliases, ["alloy", "ash", "nova"]);
        let en_gb = table.voices().iter().find(|v| v.id == "en-gb").unwrap();
        assert_eq!(en_gb.aliases, ["shimmer"]);
        assert_eq!(id(&table, "alloy").as_deref(), Some("en-us+f3"));
        assert_eq!(id(&table, "NOVA").as_deref(), Some("en-us+f2"));
        assert_eq!(id(&table, "coral"), None);
    }

    #[test]
    fn resolution_of_ids_and_variants() {
        let table = table();
        assert_eq!(id(&table, "en-us").as_deref(), Some("en-us"));
        assert_eq!(id(&table, " EN-US ").as_deref(), Some("en-us"));
        assert_eq!(id(&table, "en-us+F3").as_deref(), Some("en-us+f3"));
        assert_eq!(id(&table, "de+alex").as_deref(), Some("de+Alex"));
        for bad in [
            "en-us+nope",
            "en-us+",
            "en-us+Mr serious",
            "en-us+f3 --stdout",
            "nope",
            "--help",
            "",
            "en-us+f3+f2",
        ] {
            assert_eq!(id(&table, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn espeak_gets_the_voice_file() {
        let table = table();
        let resolved = |name| table.resolve(name).unwrap().arg;
        assert_eq!(resolved("en-gb"), "gmw/en");
        assert_eq!(resolved("shimmer"), "gmw/en+f2");
        assert_eq!(resolved("en-us+m3"), "gmw/en-US+m3");
        assert_eq!(resolved("chr-us-qaaa-x-west"), "iro/chr");
        assert_eq!(resolved("yue"), "sit/yue");
    }
}
