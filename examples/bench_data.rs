//! Generates a long-format judgments CSV (`item_id,annotator,answer`) for the import/export
//! benchmark (`bench/import_export.sh`, `docs/benchmarks.md`).
//!
//! ```text
//! cargo run --release --example bench_data -- --items 100000 --per-item 10 --out judgments.csv
//! ```
//!
//! Every item has a true social-media handle. Each of its `--per-item` judgments comes from a
//! distinct annotator drawn from a pool of `--annotators` (`worker-0001`, …). Most annotators
//! give the true handle in one of many messy forms (`@KingJames`, `https://twitter.com/KingJames`,
//! ` kingjames `, full-width letters, …); each annotator has their own error rate and a wrong
//! answer is either another handle or a near-miss typo. The output depends only on the
//! arguments (including `--seed`): the same command always writes the same bytes.
//!
//! Uses only the standard library: a xorshift64* generator stands in for `rand`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

/// xorshift64*: tiny, fast and deterministic; plenty for synthetic data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // SplitMix64 scramble so that small seeds still give well-mixed states (never zero).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

const FIRST: [&str; 32] = [
    "King", "Real", "The", "Its", "Just", "Official", "Big", "Lil", "Dr", "Mr", "Miss", "Team",
    "Daily", "Super", "Captain", "Uncle", "Aunt", "Planet", "Cosmic", "Urban", "Pixel", "Retro",
    "Silent", "Lucky", "Happy", "Wild", "Golden", "Iron", "Neon", "Tiny", "Mega", "Ultra",
];
const SECOND: [&str; 40] = [
    "James", "Maria", "Chen", "Olu", "Priya", "Sven", "Aiko", "Diego", "Fatima", "Ivan", "Lena",
    "Noah", "Omar", "Rosa", "Tariq", "Yuki", "Zara", "Bruno", "Chloe", "Dmitri", "Elena", "Femi",
    "Gita", "Hugo", "Ines", "Jonas", "Kofi", "Lucia", "Mateo", "Nadia", "Pablo", "Quinn", "Ravi",
    "Sofia", "Theo", "Uma", "Vera", "Wren", "Ximena", "Yara",
];
const THIRD: [&str; 24] = [
    "", "", "", "", "Cooks", "Codes", "Runs", "Bakes", "Sings", "Draws", "Games", "Travels",
    "Tech", "Art", "Music", "Fit", "News", "Eats", "Reads", "Films", "Plays", "Builds", "Talks",
    "Writes",
];

/// A plausible handle of at most 15 characters (Twitter's limit), most with a numeric suffix.
fn handle_for(rng: &mut Rng, item: usize) -> String {
    let mut h = String::with_capacity(16);
    h.push_str(rng.pick(&FIRST));
    h.push_str(rng.pick(&SECOND));
    let third = rng.pick(&THIRD);
    if h.len() + third.len() <= 15 {
        h.push_str(third);
    }
    let suffix = match rng.below(4) {
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

/// Full-width form of ASCII letters and digits: NFKC folds it back.
fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// The true handle written the way a crowd worker might type or paste it.
fn messy(rng: &mut Rng, h: &str) -> String {
    match rng.below(16) {
        0..=3 => format!("@{h}"),
        4 => h.to_owned(),
        5 => h.to_lowercase(),
        6 => format!(" {} ", h.to_lowercase()),
        7 => format!("https://twitter.com/{h}"),
        8 => format!("https://x.com/{h}"),
        9 => format!("twitter.com/{}", h.to_lowercase()),
        10 => format!("http://www.twitter.com/{h}/"),
        11 => format!("@{}", h.to_uppercase()),
        12 => format!("  @{h}"),
        13 => format!("＠{}", fullwidth(h)),
        14 => format!("https://mobile.twitter.com/{h}?lang=en"),
        _ => format!("@ {h}"),
    }
}

/// A wrong answer: a typo of the true handle, or somebody else's handle.
fn wrong(rng: &mut Rng, h: &str, other: &str) -> String {
    match rng.below(3) {
        0 => {
            // Drop one character.
            let chars: Vec<char> = h.chars().collect();
            let skip = rng.below(chars.len().max(1));
            let typo: String = chars
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, c)| *c)
                .collect();
            format!("@{typo}")
        }
        1 => format!("@{h}_"),
        _ => messy(rng, other),
    }
}

/// Writes one CSV field, quoting it when it has a comma, quote, line break or edge whitespace.
fn field(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    let needs = s.contains([',', '"', '\n', '\r'])
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace);
    if needs {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

struct Args {
    items: usize,
    per_item: usize,
    annotators: usize,
    seed: u64,
    out: String,
}

const USAGE: &str = "usage: bench_data --out FILE.csv [--items N (100000)] [--per-item K (10)] \
                     [--annotators P (200)] [--seed S (42)]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        items: 100_000,
        per_item: 10,
        annotators: 200,
        seed: 42,
        out: String::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{flag}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--items" => args.items = num(&value)? as usize,
            "--per-item" => args.per_item = num(&value)? as usize,
            "--annotators" => args.annotators = num(&value)? as usize,
            "--seed" => args.seed = num(&value)?,
            "--out" => args.out = value,
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.out.is_empty() {
        return Err(format!("--out is required\n{USAGE}"));
    }
    if args.items == 0 || args.per_item == 0 {
        return Err("--items and --per-item must be positive".into());
    }
    if args.per_item > args.annotators {
        return Err(format!(
            "--per-item {} needs at least that many --annotators (have {})",
            args.per_item, args.annotators
        ));
    }
    Ok(args)
}

fn run(args: &Args) -> std::io::Result<u64> {
    let mut rng = Rng::new(args.seed);
    // Per-annotator error rate: most are good, a few are sloppy.
    let error_rate: Vec<f64> = (0..args.annotators)
        .map(|_| {
            if rng.below(10) == 0 {
                0.25 + 0.25 * rng.unit()
            } else {
                0.02 + 0.10 * rng.unit()
            }
        })
        .collect();
    let names: Vec<String> = (1..=args.annotators)
        .map(|i| format!("worker-{i:04}"))
        .collect();
    let mut pool: Vec<usize> = (0..args.annotators).collect();

    let mut out = BufWriter::with_capacity(1 << 20, File::create(&args.out)?);
    out.write_all(b"item_id,annotator,answer\n")?;
    let width = args.items.to_string().len().max(6);
    let mut rows = 0u64;
    let mut previous = String::from("NobodyHome");
    for item in 0..args.items {
        let truth = handle_for(&mut rng, item);
        let item_id = format!("item-{:0width$}", item + 1);
        // Partial Fisher–Yates: the first `per_item` slots become distinct annotators.
        for k in 0..args.per_item {
            let j = k + rng.below(args.annotators - k);
            pool.swap(k, j);
        }
        for &a in &pool[..args.per_item] {
            let answer = if rng.unit() < error_rate[a] {
                wrong(&mut rng, &truth, &previous)
            } else {
                messy(&mut rng, &truth)
            };
            out.write_all(item_id.as_bytes())?;
            out.write_all(b",")?;
            out.write_all(names[a].as_bytes())?;
            out.write_all(b",")?;
            field(&mut out, &answer)?;
            out.write_all(b"\n")?;
            rows += 1;
        }
        previous = truth;
    }
    out.flush()?;
    Ok(rows)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(rows) => {
            eprintln!(
                "wrote {rows} judgments ({} items x {}, {} annotators, seed {}) to {}",
                args.items, args.per_item, args.annotators, args.seed, args.out
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", args.out);
            ExitCode::FAILURE
        }
    }
}
