//! Times the crowd model (`quorum::domain::crowd`) on a seeded synthetic crowd, single-threaded
//! and in process; see docs/benchmarks.md, "Crowd model (issue 11)", and `bench/crowd_model.sh`.
//!
//! ```text
//! cargo run --release --example bench_dawid_skene -- [--items N (100000)] [--annotators A (200)]
//!     [--judgments J (9)] [--classes K (4)] [--runs R (3)] [--seed S (42)] [--csv FILE]
//! ```
//!
//! The crowd: every item has a true class (priors ∝ 1/(t+1), so class 0 is the most common)
//! and `J` distinct annotators drawn uniformly from `A`. 10% of the annotators are spammers who
//! answer uniformly at random; the others are right with an accuracy drawn uniformly from
//! 0.60–0.95 and, when wrong, give their own favourite wrong class half the time and any other
//! wrong class otherwise. The same arguments always give the same crowd.
//!
//! Each of the `R` runs times `dawid_skene::fit` with the confusion model on the same
//! `Evidence`: capped at 1 and at 10 EM rounds (tolerance −∞, so every round runs; the
//! marginal cost of a round is (t10 − t1) / 9), and with `Options::default()` (to convergence);
//! then the path exports take, `ModelBuilder` (i64 item and annotator ids, `&str` answers)
//! `add_item` for every item and `.fit(&Options::default())`. Peak RSS is the process's VmHWM,
//! reset (`/proc/self/clear_refs`) before each phase, so each figure includes what the phases
//! before it left resident. Then the planner in process: `candidates(25, 0.99999, None)`, each
//! `evaluate`d, and `recommend`, as `quorum plan --max-n 25` does, five times per error model.
//! `--csv FILE` also writes the judgments as `worker,task,label` (crowd-kit's columns);
//! `--runs 0` writes it and measures nothing.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use quorum::domain::AnswerSpec;
use quorum::domain::crowd::dawid_skene::{Evidence, Model, Options, fit};
use quorum::domain::crowd::planner::{Crowd, ErrorModel, candidates, evaluate, recommend};
use quorum::domain::crowd::project_model::ModelBuilder;

/// xorshift64* seeded through SplitMix64, as in `bench_data.rs`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Args {
    items: usize,
    annotators: usize,
    judgments: usize,
    classes: usize,
    runs: usize,
    seed: u64,
    csv: Option<String>,
}

const USAGE: &str = "usage: bench_dawid_skene [--items N (100000)] [--annotators A (200)] \
                     [--judgments J (9)] [--classes K (4)] [--runs R (3)] [--seed S (42)] [--csv FILE]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        items: 100_000,
        annotators: 200,
        judgments: 9,
        classes: 4,
        runs: 3,
        seed: 42,
        csv: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = || -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value:?}"))
        };
        match flag.as_str() {
            "--items" => args.items = num()? as usize,
            "--annotators" => args.annotators = num()? as usize,
            "--judgments" => args.judgments = num()? as usize,
            "--classes" => args.classes = num()? as usize,
            "--runs" => args.runs = num()? as usize,
            "--seed" => args.seed = num()?,
            "--csv" => args.csv = Some(value),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.judgments > args.annotators || args.classes < 2 {
        return Err(format!(
            "need --judgments ≤ --annotators and --classes ≥ 2\n{USAGE}"
        ));
    }
    Ok(args)
}

/// The synthetic crowd: true class per item, (annotator, answer) per judgment, item by item.
struct Crowdsourced {
    truth: Vec<u32>,
    judgments: Vec<(u32, u32)>,
}

fn generate(a: &Args) -> Crowdsourced {
    let (k, mut rng) = (a.classes, Rng::new(a.seed));
    // (accuracy, favourite wrong offset); a spammer's accuracy is NaN.
    let crowd: Vec<(f64, usize)> = (0..a.annotators)
        .map(|_| {
            let accuracy = if rng.below(10) == 0 {
                f64::NAN
            } else {
                0.60 + 0.35 * rng.unit()
            };
            (accuracy, 1 + rng.below(k - 1))
        })
        .collect();
    let weights: Vec<f64> = (0..k).map(|t| 1.0 / (t + 1) as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut pool: Vec<u32> = (0..a.annotators as u32).collect();
    let mut out = Crowdsourced {
        truth: Vec::with_capacity(a.items),
        judgments: Vec::new(),
    };
    for _ in 0..a.items {
        let mut u = rng.unit() * total;
        let truth = weights.iter().position(|w| {
            u -= w;
            u < 0.0
        });
        let truth = truth.unwrap_or(k - 1);
        out.truth.push(truth as u32);
        for slot in 0..a.judgments {
            let pick = slot + rng.below(a.annotators - slot);
            pool.swap(slot, pick);
            let j = pool[slot];
            let (accuracy, favourite) = crowd[j as usize];
            let answer = if accuracy.is_nan() {
                rng.below(k)
            } else if rng.unit() < accuracy {
                truth
            } else if rng.below(2) == 0 {
                (truth + favourite) % k
            } else {
                (truth + 1 + rng.below(k - 1)) % k
            };
            out.judgments.push((j, answer as u32));
        }
    }
    out
}

/// Resets the peak RSS to the current one; `peak_mib` reads it.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    kib / 1024.0
}

fn range(xs: &[f64]) -> String {
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2}–{:.2}", min * 1e3, max * 1e3)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let data = generate(&a);
    let per = a.judgments;
    println!(
        "crowd: {} items × {per} judgments, {} annotators, {} classes, seed {}: generated in {:.2} s",
        a.items,
        a.annotators,
        a.classes,
        a.seed,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &a.csv {
        let written = std::fs::File::create(path).and_then(|f| {
            let mut w = BufWriter::with_capacity(1 << 20, f);
            w.write_all(b"worker,task,label\n")?;
            for (i, chunk) in data.judgments.chunks(per).enumerate() {
                for &(j, answer) in chunk {
                    writeln!(w, "w{j},t{i},c{answer}")?;
                }
            }
            w.flush()
        });
        if let Err(e) = written {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }
    if a.runs == 0 {
        return ExitCode::SUCCESS;
    }
    let mut evidence = Evidence::new(a.annotators);
    for chunk in data.judgments.chunks(per) {
        evidence.push_item(chunk.iter().copied());
    }
    let model = Model::Confusion { classes: a.classes };
    let capped = |rounds| Options {
        max_iterations: rounds,
        tolerance: f64::NEG_INFINITY,
        ..Options::default()
    };
    let options: Vec<String> = (0..a.classes).map(|c| format!("c{c}")).collect();
    let spec = AnswerSpec::Choice {
        options: options.clone(),
    };
    println!("resident after generating: {:.1} MiB", peak_mib());
    let (mut one, mut marginal, mut converge, mut build, mut build_fit) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut peak_fit, mut peak_builder) = (0.0f64, 0.0f64);
    for run in 1..=a.runs {
        reset_peak();
        let time = |options: &Options| {
            let t = Instant::now();
            let fitted = fit(&evidence, model, options, &[]).expect("valid evidence");
            (t.elapsed().as_secs_f64(), fitted)
        };
        let (t1, _) = time(&capped(1));
        let (t10, _) = time(&capped(10));
        let (tc, fitted) = time(&Options::default());
        peak_fit = peak_fit.max(peak_mib());
        let right = (0..a.items).filter(|&i| fitted.best(i).map(|b| b.0) == Some(data.truth[i]));
        let accuracy = right.count() as f64 / a.items as f64;
        let (rounds, converged) = (fitted.iterations, fitted.converged);
        drop(fitted);

        reset_peak();
        let t = Instant::now();
        let mut builder = ModelBuilder::new(&spec);
        for (i, chunk) in data.judgments.chunks(per).enumerate() {
            let judgments = chunk
                .iter()
                .map(|&(j, c)| (1000 + i64::from(j), options[c as usize].as_str()));
            builder.add_item(i as i64 + 1, judgments, None);
        }
        let tb = t.elapsed().as_secs_f64();
        let crowd_model = builder.fit(&Options::default()).expect("valid evidence");
        let tbf = t.elapsed().as_secs_f64() - tb;
        peak_builder = peak_builder.max(peak_mib());
        println!(
            "run {run}: 1 round {:.1} ms, 10 rounds {:.1} ms ({:.2} ms a round), default {} rounds \
             (converged {}) {:.1} ms, accuracy {accuracy:.4}; ModelBuilder add_item {:.1} ms + fit \
             {:.1} ms ({} rounds, {} labels differ from plurality)",
            t1 * 1e3,
            t10 * 1e3,
            (t10 - t1) / 9.0 * 1e3,
            rounds,
            converged,
            tc * 1e3,
            tb * 1e3,
            tbf * 1e3,
            crowd_model.fit().iterations,
            crowd_model.differs_from_plurality()
        );
        println!(
            "RESULT impl=quorum one_round_ms={:.3} round_ms={:.3} converge_ms={:.3} rounds={rounds} \
             builder_add_ms={:.3} builder_fit_ms={:.3}",
            t1 * 1e3,
            (t10 - t1) / 9.0 * 1e3,
            tc * 1e3,
            tb * 1e3,
            tbf * 1e3
        );
        one.push(t1);
        marginal.push((t10 - t1) / 9.0);
        converge.push(tc);
        build.push(tb);
        build_fit.push(tbf);
    }
    let plurality = (0..a.items).filter(|&i| {
        let mut votes = vec![0; a.classes];
        data.judgments[i * per..(i + 1) * per]
            .iter()
            .for_each(|&(_, c)| votes[c as usize] += 1);
        let top = votes.iter().max().copied().unwrap_or(0);
        votes.iter().position(|&v| v == top) == Some(data.truth[i] as usize)
    });
    println!(
        "plurality vote accuracy (ties to the lowest class): {:.4}",
        plurality.count() as f64 / a.items as f64
    );
    println!("summary, ms, min–max of {} runs:", a.runs);
    println!("  fit capped at 1 round:           {}", range(&one));
    println!("  one EM round, (t10 − t1) / 9:    {}", range(&marginal));
    println!("  fit to convergence (default):    {}", range(&converge));
    println!("  ModelBuilder add_item:           {}", range(&build));
    println!("  ModelBuilder fit (default):      {}", range(&build_fit));
    println!("  peak RSS MiB: fits {peak_fit:.1}, ModelBuilder path {peak_builder:.1}");

    for errors in [ErrorModel::Namesake, ErrorModel::Uniform(3)] {
        let crowd = Crowd {
            accuracy: 0.9,
            errors,
        };
        let mut times = Vec::new();
        let mut best = String::new();
        for _ in 0..5 {
            let t = Instant::now();
            let plans: Vec<_> = candidates(25, 0.99999, None)
                .iter()
                .map(|c| evaluate(&crowd, c))
                .collect();
            let chosen = recommend(&plans, 0.99999, 0.9).map(|p| p.candidate);
            times.push(t.elapsed().as_secs_f64());
            best = format!("{} candidates, recommends {chosen:?}", plans.len());
        }
        println!(
            "  planner, accuracy 0.9, {errors}, max N 25: {} ms; {best}",
            range(&times)
        );
    }
    ExitCode::SUCCESS
}
