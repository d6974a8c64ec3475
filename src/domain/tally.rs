//! The distribution of an item's normalised answers.

use std::collections::HashMap;

/// Vote counts per normalised answer, ordered by count (descending) then answer, so that the
/// order — and the exported JSON — never depends on the order judgments arrived in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: Vec<(String, u32)>,
    total: u32,
}

impl Tally {
    pub fn from_answers<'a>(answers: impl IntoIterator<Item = &'a str>) -> Tally {
        let mut map: HashMap<&'a str, u32> = HashMap::new();
        for a in answers {
            *map.entry(a).or_default() += 1;
        }
        Tally::from_counts(map.into_iter().map(|(a, c)| (a.to_owned(), c)))
    }

    /// Builds a tally from (answer, count) pairs; zero counts are dropped, duplicates merged.
    pub fn from_counts(pairs: impl IntoIterator<Item = (String, u32)>) -> Tally {
        let mut merged: HashMap<String, u32> = HashMap::new();
        for (a, c) in pairs {
            if c > 0 {
                *merged.entry(a).or_default() += c;
            }
        }
        let mut counts: Vec<(String, u32)> = merged.into_iter().collect();
        counts.sort_by(|(a, x), (b, y)| y.cmp(x).then_with(|| a.cmp(b)));
        let total = counts.iter().map(|(_, c)| c).sum();
        Tally { counts, total }
    }

    /// Parses the JSON object written by [`Tally::to_json`].
    pub fn from_json(json: &str) -> Result<Tally, serde_json::Error> {
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)?;
        Ok(Tally::from_counts(map.into_iter().filter_map(|(k, v)| {
            v.as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .map(|c| (k, c))
        })))
    }

    /// Appends the vote counts of a JSON object written by [`Tally::to_json`] to `out`, in
    /// stored order, without building the tally: the exports need only the counts, for every
    /// item of a project.
    pub fn counts_from_json(json: &str, out: &mut Vec<u64>) -> Result<(), serde_json::Error> {
        use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

        struct Counts<'a>(&'a mut Vec<u64>);

        impl<'de> DeserializeSeed<'de> for Counts<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_map(self)
            }
        }

        impl<'de> Visitor<'de> for Counts<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of answer counts")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                while let Some((IgnoredAny, count)) = map.next_entry::<IgnoredAny, u64>()? {
                    self.0.push(count);
                }
                Ok(())
            }
        }

        let mut de = serde_json::Deserializer::from_str(json);
        Counts(out).deserialize(&mut de)?;
        de.end()
    }

    /// The distribution as a compact JSON object, most votes first: `{"kingjames":7,"kj":2}`.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::with_capacity(self.counts.len());
        for (a, c) in &self.counts {
            map.insert(a.clone(), serde_json::Value::from(*c));
        }
        serde_json::Value::Object(map).to_string()
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// The answer with most votes (ties broken by answer, for determinism).
    pub fn top(&self) -> Option<(&str, u32)> {
        self.counts.first().map(|(a, c)| (a.as_str(), *c))
    }

    /// Votes of the second most common answer (0 if none).
    pub fn runner_up(&self) -> u32 {
        self.counts.get(1).map_or(0, |(_, c)| *c)
    }

    pub fn count(&self, answer: &str) -> u32 {
        self.counts
            .iter()
            .find(|(a, _)| a == answer)
            .map_or(0, |(_, c)| *c)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.counts.iter().map(|(a, c)| (a.as_str(), *c))
    }

    /// The counts alone, as the agreement statistics need them.
    pub fn counts(&self) -> Vec<u64> {
        self.counts.iter().map(|(_, c)| u64::from(*c)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_count_then_answer() {
        let t = Tally::from_answers(["b", "a", "c", "b", "a", "b"]);
        assert_eq!(t.top(), Some(("b", 3)));
        assert_eq!(t.runner_up(), 2);
        assert_eq!(t.total(), 6);
        assert_eq!(t.to_json(), r#"{"b":3,"a":2,"c":1}"#);
    }

    #[test]
    fn counts_from_json_reads_the_stored_counts() {
        let t = Tally::from_answers(["\"q\", c", "b", "b", "émoji 🏀", "b", "\"q\", c"]);
        let mut counts = vec![9];
        Tally::counts_from_json(&t.to_json(), &mut counts).expect("valid");
        assert_eq!(counts, [9, 3, 2, 1], "appends, in stored order");
        let mut none = Vec::new();
        Tally::counts_from_json("{}", &mut none).expect("empty tally");
        assert!(none.is_empty());
        for bad in ["", "[1]", r#"{"a":-1}"#, r#"{"a":"1"}"#, r#"{"a":1} x"#] {
            assert!(Tally::counts_from_json(bad, &mut none).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_round_trips_awkward_answers() {
        let t = Tally::from_answers(["\"quoted\", comma", "line\nbreak", "émoji 🏀", "émoji 🏀"]);
        let back = Tally::from_json(&t.to_json()).expect("valid json");
        assert_eq!(back, t);
    }

    #[test]
    fn empty_tally() {
        let t = Tally::from_answers([]);
        assert!(t.is_empty());
        assert_eq!(t.top(), None);
        assert_eq!(t.to_json(), "{}");
    }
}
