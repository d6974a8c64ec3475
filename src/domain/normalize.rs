//! TEMPORARY STUB — replaced by the real module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalizer {
    Trim,
    Nfkc,
    Casefold,
    Handle,
}
impl Normalizer {
    pub const ALL: [Normalizer; 4] = [
        Normalizer::Trim,
        Normalizer::Nfkc,
        Normalizer::Casefold,
        Normalizer::Handle,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Normalizer::Trim => "trim",
            Normalizer::Nfkc => "nfkc",
            Normalizer::Casefold => "casefold",
            Normalizer::Handle => "handle",
        }
    }
    pub fn parse(name: &str) -> Option<Normalizer> {
        Normalizer::ALL.into_iter().find(|n| n.name() == name)
    }
    pub fn description(self) -> &'static str {
        ""
    }
    pub fn apply(self, input: &str) -> String {
        match self {
            Normalizer::Trim => input.split_whitespace().collect::<Vec<_>>().join(" "),
            Normalizer::Casefold => input.to_lowercase(),
            Normalizer::Nfkc => input.to_owned(),
            Normalizer::Handle => input.trim().trim_start_matches('@').to_lowercase(),
        }
    }
}
pub fn normalize(pipeline: &[Normalizer], raw: &str) -> String {
    let mut s = raw.to_owned();
    for n in pipeline {
        s = n.apply(&s);
    }
    s
}
