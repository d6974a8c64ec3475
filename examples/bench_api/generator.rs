//! Messy handle answers for the export project, as `examples/bench_data.rs` makes them.

use crate::support::Rng;

// The answer generator of examples/bench_data.rs, condensed: every item has a true handle;
// each judgment comes from a distinct annotator of the pool, who writes the true handle in one
// of many messy forms or, at their own error rate, a near miss or somebody else's handle.

pub(crate) const FIRST: [&str; 16] = [
    "King", "Real", "The", "Its", "Just", "Official", "Big", "Lil", "Team", "Daily", "Super",
    "Captain", "Golden", "Iron", "Neon", "Mega",
];
pub(crate) const SECOND: [&str; 20] = [
    "James", "Maria", "Chen", "Olu", "Priya", "Sven", "Aiko", "Diego", "Fatima", "Ivan", "Lena",
    "Noah", "Omar", "Rosa", "Tariq", "Yuki", "Zara", "Bruno", "Chloe", "Dmitri",
];
pub(crate) const SURNAMES: [&str; 16] = [
    "Davis", "Smith", "Okafor", "Nakamura", "Silva", "Novak", "Haddad", "Kowalski", "Moreau",
    "Rossi", "Jensen", "Mensah", "Ortiz", "Ivanova", "Khan", "Larsen",
];

pub(crate) struct Generator {
    rng: Rng,
    error_rate: Vec<f64>,
    names: Vec<String>,
    pool: Vec<usize>,
    previous: String,
}

impl Generator {
    pub(crate) fn new(seed: u64, annotators: usize) -> Generator {
        let mut rng = Rng::new(seed);
        let error_rate = (0..annotators)
            .map(|_| {
                if rng.below(10) == 0 {
                    0.25 + 0.25 * rng.unit()
                } else {
                    0.02 + 0.10 * rng.unit()
                }
            })
            .collect();
        Generator {
            rng,
            error_rate,
            names: (1..=annotators).map(|i| format!("worker-{i:04}")).collect(),
            pool: (0..annotators).collect(),
            previous: "NobodyHome".into(),
        }
    }

    /// (annotator, answer) of `k` distinct annotators for item number `item`.
    pub(crate) fn item(&mut self, item: usize, k: usize) -> Vec<(String, String)> {
        let truth = self.handle(item);
        let n = self.pool.len();
        let mut out = Vec::with_capacity(k);
        for slot in 0..k {
            let j = slot + self.rng.below(n - slot);
            self.pool.swap(slot, j);
            let a = self.pool[slot];
            let answer = if self.rng.unit() < self.error_rate[a] {
                let previous = std::mem::take(&mut self.previous);
                let wrong = match self.rng.below(3) {
                    0 => format!("@{}", &truth[..truth.len() - 1]),
                    1 => format!("@{truth}_"),
                    _ => messy(&mut self.rng, &previous),
                };
                self.previous = previous;
                wrong
            } else {
                messy(&mut self.rng, &truth)
            };
            out.push((self.names[a].clone(), answer));
        }
        self.previous = truth;
        out
    }

    /// A plausible handle of at most 15 characters (Twitter's limit).
    pub(crate) fn handle(&mut self, item: usize) -> String {
        let mut h = String::with_capacity(16);
        h.push_str(FIRST[self.rng.below(FIRST.len())]);
        h.push_str(SECOND[self.rng.below(SECOND.len())]);
        let suffix = match self.rng.below(4) {
            0 => String::new(),
            1 => format!("{}", item % 1000),
            2 => format!("_{}", item % 100),
            _ => format!("{}", 1960 + item % 60),
        };
        if h.len() + suffix.len() <= 15 {
            h.push_str(&suffix);
        }
        h
    }
}

/// The true handle written the way a crowd worker might type or paste it.
pub(crate) fn messy(rng: &mut Rng, h: &str) -> String {
    match rng.below(14) {
        0..=3 => format!("@{h}"),
        4 => h.to_owned(),
        5 => h.to_lowercase(),
        6 => format!(" {} ", h.to_lowercase()),
        7 => format!("https://twitter.com/{h}"),
        8 => format!("https://x.com/{h}"),
        9 => format!("twitter.com/{}", h.to_lowercase()),
        10 => format!("http://www.twitter.com/{h}/"),
        11 => format!("@{}", h.to_uppercase()),
        12 => format!("https://mobile.twitter.com/{h}?lang=en"),
        _ => format!("@ {h}"),
    }
}
