//! Random poison records for the property tests of every sink: values with NULs, lone surrogates, huge or
//! dot-only strings, numbers no integer holds, wrong types, values that are not JSON, nesting past the stage's
//! limit, next to plain ones. Seeded, so a failure names the seed that reproduces it.

/// One generated value, and whether it is plain (every field an ordinary value every sink writes).
#[derive(Debug, Clone)]
pub struct PoisonValue {
    /// JSON text for the record's value (`msgBody`).
    pub value: String,
    pub plain: bool,
}

/// A small generator (PCG-style LCG): no dependency, the same sequence for a seed on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[(self.next() % choices.len() as u64) as usize]
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }
}

/// Plain values of `n` (an integer), `s` (text) and `t` (a short name), as JSON.
const PLAIN_N: &[&str] = &["0", "7", "-3", "2147483647"];
const PLAIN_S: &[&str] = &[
    "\"ok\"",
    "\"值 ✓\"",
    "\"a \\\"quoted\\\", line\\nbreak\"",
    "\"😀 עברית e\\u0301\"",
];
const PLAIN_T: &[&str] = &["\"a\"", "\"b\""];
/// What a sink may refuse: NUL, a lone surrogate, numbers no integer or float holds, wrong types, names no
/// key, topic or index may carry.
const ODD_N: &[&str] = &[
    "\"1\\u0000\"",
    "1e400",
    "1.5",
    "\"many\"",
    "true",
    "[1]",
    "99999999999999999999",
];
const ODD_S: &[&str] = &[
    "\"a\\u0000b\"",
    "\"\\ud800\"",
    "\"..\"",
    "\".\"",
    "\"\"",
    "{\"x\":1}",
    "null",
];
const ODD_T: &[&str] = &[
    "\"..\"",
    "\"\"",
    "\"UPPER\"",
    "\"no such\"",
    "\"a/b\"",
    "\"\\u0000\"",
    "7",
];

/// `count` values from `seed`: about a third plain, the rest with at least one odd field, a huge string, a
/// missing field, or not JSON at all.
pub fn poison_values(seed: u64, count: usize) -> Vec<PoisonValue> {
    let mut rng = Lcg(seed);
    (0..count)
        .map(|_| {
            if rng.one_in(3) {
                let value = format!(
                    r#"{{"n":{},"s":{},"t":{}}}"#,
                    rng.pick(PLAIN_N),
                    rng.pick(PLAIN_S),
                    rng.pick(PLAIN_T)
                );
                return PoisonValue { value, plain: true };
            }
            let value = match rng.next() % 8 {
                0 => "not json \u{1} at all".to_owned(),
                1 => format!("{}1{}", "[".repeat(200), "]".repeat(200)),
                2 => format!(
                    r#"{{"n":1,"s":"{}","t":"a"}}"#,
                    "x".repeat(2000 + (rng.next() % 100_000) as usize)
                ),
                3 => r#"{"s":"no n or t"}"#.to_owned(),
                _ => {
                    let field = |rng: &mut Lcg, plain: &[&'static str], odd: &[&'static str]| {
                        if rng.one_in(2) {
                            rng.pick(odd)
                        } else {
                            rng.pick(plain)
                        }
                    };
                    let n = field(&mut rng, PLAIN_N, ODD_N);
                    let s = field(&mut rng, PLAIN_S, ODD_S);
                    let t = if rng.one_in(2) {
                        rng.pick(ODD_T)
                    } else {
                        rng.pick(ODD_N)
                    };
                    format!(r#"{{"n":{n},"s":{s},"t":{t}}}"#)
                }
            };
            PoisonValue { value, plain: false }
        })
        .collect()
}

/// The seeds a property test runs: `CKD_POISON_SEEDS` (comma-separated) or three fixed ones.
pub fn poison_seeds() -> Vec<u64> {
    match std::env::var("CKD_POISON_SEEDS") {
        Ok(seeds) => seeds
            .split(',')
            .map(|s| s.trim().parse().expect("CKD_POISON_SEEDS: numbers"))
            .collect(),
        Err(_) => vec![1, 2024, 0xC0FFEE],
    }
}
