//! Deterministic robustness test of `rseq-link-check` on malformed input, in the normal
//! test run: thousands of seeded variants (truncated, bytes flipped, header and table
//! fields overwritten with boundary values, chunks copied over others) of real files (small
//! real ELF files and linker command lines from `fuzz/corpus`, `/bin/true`, this machine's
//! `/etc/ld.so.cache`) go through the public API the fuzz targets use: the ELF layer, the
//! critical-section verifier with its report and listing, `ld.so.cache` parsing, and
//! link-line, response-file and version-script parsing. Each must end in a result or an
//! error: a panic fails the test (naming the seed file and variant, and saving the input);
//! a hang fails it through a watchdog (no progress for 20 s); memory growth is bounded.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rseq_link_check::__fuzz::asm::build_listing;
use rseq_link_check::__fuzz::elf::{ElfFile, Machine};
use rseq_link_check::__fuzz::link::{split_response_file, DynamicList, LinkLine, VersionScript};
use rseq_link_check::__fuzz::loader::LdCache;
use rseq_link_check::__fuzz::render::render_text;
use rseq_link_check::__fuzz::verify::{analyse, Image};
use rseq_tests::stress::Rng;

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// One variant of `seed`, chosen by `rng`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut d = seed.to_vec();
    if d.is_empty() {
        return d;
    }
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = d.len().max(1) as u64;
        match rng.below(5) {
            // Truncate.
            0 => {
                let at = rng.below(len) as usize;
                d.truncate(at);
            }
            // Flip bytes.
            1 => {
                for _ in 0..1 + rng.below(8) {
                    if let Some(b) = d.get_mut(rng.below(len) as usize) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
            // A boundary value in a header or table field (8-byte aligned, biased towards
            // the first 256 bytes where the headers are).
            2 | 3 => {
                let span = if rng.below(2) == 0 { len.min(256) } else { len };
                let at = (rng.below(span) as usize) & !3;
                let values: [u64; 8] = [
                    0,
                    u64::MAX,
                    0x7fff_ffff,
                    0x8000_0000,
                    0xffff_ffff,
                    len,
                    len + 1,
                    1 << 40,
                ];
                let v = values[rng.below(values.len() as u64) as usize];
                let width = if rng.below(2) == 0 { 4 } else { 8 };
                for (i, b) in v.to_le_bytes()[..width].iter().enumerate() {
                    if let Some(x) = d.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            // Copy a chunk over another place.
            _ => {
                let from = rng.below(len) as usize;
                let to = rng.below(len) as usize;
                let n = (rng.below(64) as usize)
                    .min(d.len() - from)
                    .min(d.len() - to);
                let chunk = d[from..from + n].to_vec();
                d[to..to + n].copy_from_slice(&chunk);
            }
        }
        if d.is_empty() {
            break;
        }
    }
    d
}

fn exercise_elf(data: &[u8]) {
    if let Ok(file) = ElfFile::from_bytes(Path::new("variant"), data.to_vec()) {
        let _ = (file.soname(), file.is_dynamic(), file.has_versym());
        let mut names = vec![b"__rseq_abi".to_vec(), b"__rseq_offset".to_vec()];
        for sym in file.dynamic_symbols().take(4096) {
            if names.len() < 64 {
                names.push(sym.name.to_vec());
            }
            let _ = sym.name_str();
            if let Some(v) = sym.versym {
                let _ = file.version(v);
            }
        }
        for name in &names {
            let _ = file.find_dynamic(name, |index, sym| Some((index, sym.value)));
            let _ = file.static_symbols(name).take(16).count();
        }
        let _ = file.symbol_relocs().take(65536).count();
    }
    if let Ok(image) = Image::parse(Path::new("variant"), data) {
        let analysis = analyse(&image, "variant");
        let _ = render_text(&analysis.report);
        let _ = build_listing(&image, "variant", None);
    }
}

fn exercise_cache(data: &[u8]) {
    let hwcaps = ["x86-64-v3".to_string(), "x86-64-v2".to_string()];
    for machine in [Machine::X86_64, Machine::Aarch64] {
        if let Some(cache) = LdCache::parse(data, machine, &hwcaps) {
            let _ = (cache.len(), cache.lookup("libc.so.6"));
        }
    }
}

fn exercise_link(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let args: Vec<&str> = text
        .split(['\0', '\n'])
        .filter(|a| !a.starts_with('@'))
        .collect();
    let _ = LinkLine::parse(&args);
    let words: Vec<String> = split_response_file(&text)
        .into_iter()
        .filter(|a| !a.starts_with('@'))
        .collect();
    let _ = LinkLine::parse(&words);
    if let Ok(script) = VersionScript::parse(&text) {
        let _ = script.verdict("__rseq_abi");
    }
    let _ = DynamicList::parse(&text);
}

/// Peak resident set size of this process, in kB.
fn max_rss_kb() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Job {
    name: String,
    seed: Vec<u8>,
    variants: usize,
    run: fn(&[u8]),
}

#[test]
fn mutated_and_truncated_inputs_never_panic_or_hang() {
    let mut jobs = Vec::new();
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut elf_seeds: Vec<PathBuf> = corpus("elf");
    elf_seeds.extend(corpus("verify"));
    if Path::new("/bin/true").exists() {
        elf_seeds.push("/bin/true".into());
    }
    for p in &elf_seeds {
        jobs.push(Job {
            name: p.display().to_string(),
            seed: read(p),
            variants: 600,
            run: exercise_elf,
        });
    }
    let mut cache_seeds = corpus("ld_cache");
    if Path::new("/etc/ld.so.cache").exists() {
        cache_seeds.push("/etc/ld.so.cache".into());
    }
    for p in &cache_seeds {
        jobs.push(Job {
            name: p.display().to_string(),
            seed: read(p),
            variants: 1500,
            run: exercise_cache,
        });
    }
    for p in corpus("link_args") {
        jobs.push(Job {
            name: p.display().to_string(),
            seed: read(&p),
            variants: 400,
            run: exercise_link,
        });
    }
    let total: usize = jobs.iter().map(|j| j.variants + 1).sum();

    let done = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let rss_before = max_rss_kb();
    let started = Instant::now();
    let worker = {
        let (done, current, failures) = (done.clone(), current.clone(), failures.clone());
        std::thread::spawn(move || {
            // Panics are caught and reported below; keep the default hook's message.
            for (j, job) in jobs.iter().enumerate() {
                let mut rng = Rng::new(0x5eed ^ (j as u64) << 20);
                for v in 0..=job.variants {
                    // Variant 0 is the seed itself.
                    let input = if v == 0 {
                        job.seed.clone()
                    } else {
                        mutate(&job.seed, &mut rng)
                    };
                    *current.lock().unwrap() = format!("{} variant {v}", job.name);
                    let run = job.run;
                    if catch_unwind(AssertUnwindSafe(|| run(&input))).is_err() {
                        let saved =
                            std::env::temp_dir().join(format!("rseq-fuzz-regression-{j}-{v}.bin"));
                        let _ = std::fs::write(&saved, &input);
                        failures.lock().unwrap().push(format!(
                            "{} variant {v} panicked (input saved to {})",
                            job.name,
                            saved.display()
                        ));
                    }
                    done.fetch_add(1, Ordering::Release);
                }
            }
        })
    };
    // Watchdog: every input must finish within 20 s of the previous one.
    let mut last = (0, Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let n = done.load(Ordering::Acquire);
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(20) {
            panic!(
                "no progress for 20 s on {} ({n} of {total} inputs done)",
                current.lock().unwrap()
            );
        }
    }
    worker.join().expect("the worker catches every panic");
    let failures = failures.lock().unwrap();
    let grown_mb = (max_rss_kb() - rss_before) / 1024;
    println!(
        "{total} inputs ({} ELF seeds, {} caches) in {:.1}s, {} panics, peak RSS grew by {grown_mb} MB",
        elf_seeds.len(),
        cache_seeds.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert_eq!(done.load(Ordering::Acquire), total);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(grown_mb < 1024, "peak RSS grew by {grown_mb} MB");
}

/// The mutator is deterministic and really changes its input (a test that cannot fail is
/// a defect: this one would pass on unmodified seeds).
#[test]
fn mutator_is_deterministic_and_mutates() {
    let seed: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
    let a: Vec<Vec<u8>> = {
        let mut rng = Rng::new(1);
        (0..100).map(|_| mutate(&seed, &mut rng)).collect()
    };
    let b: Vec<Vec<u8>> = {
        let mut rng = Rng::new(1);
        (0..100).map(|_| mutate(&seed, &mut rng)).collect()
    };
    assert_eq!(a, b);
    assert!(a.iter().filter(|v| **v != seed).count() >= 95);
    assert!(a.iter().any(|v| v.len() < seed.len()));
}

/// A crafted `ld.so.cache` whose glibc-hwcaps extension names one long string thousands of
/// times (in several extension sections) is parsed in bounded memory: before the fix every
/// name was copied, 4 × 16,000 × 4,000 bytes = 256 MB here and quadratic in the file size.
#[test]
fn crafted_cache_with_repeated_hwcaps_names_is_bounded() {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    let names = 16_000usize;
    let string_at = 0x2_0000usize;
    // Under the 4 KiB bound on any one string, so that each name is read.
    let string_len = 4000;
    let mut d = vec![0u8; string_at + string_len + 1];
    d[..MAGIC.len()].copy_from_slice(MAGIC);
    let put = |d: &mut Vec<u8>, at: usize, v: u32| d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    // nlibs = 0, extension at 48: magic, 4 sections, each a glibc-hwcaps table at 4096.
    put(&mut d, 20, 0);
    put(&mut d, 32, 48);
    put(&mut d, 48, 0xeaa4_2174);
    put(&mut d, 52, 4);
    for s in 0..4 {
        let sec = 56 + s * 16;
        put(&mut d, sec, 1);
        put(&mut d, sec + 8, 4096);
        put(&mut d, sec + 12, (names * 4) as u32);
    }
    for j in 0..names {
        put(&mut d, 4096 + j * 4, string_at as u32);
    }
    for b in &mut d[string_at..string_at + string_len] {
        *b = b'h';
    }
    let before = max_rss_kb();
    let cache = LdCache::parse(&d, Machine::X86_64, &["x86-64-v3".to_string()]);
    let grown_mb = (max_rss_kb() - before) / 1024;
    assert!(cache.is_some_and(|c| c.is_empty()));
    assert!(grown_mb < 64, "parsing grew the peak RSS by {grown_mb} MB");
}

/// A crafted `ld.so.cache` whose 100,000 entries all name strings inside one 2 MiB run
/// without a NUL: each string read is bounded (4 KiB, glibc's `PATH_MAX`), so parsing is
/// linear in the file; before the bound every entry scanned to the end of the file
/// (2 × 10^11 bytes here, hours), which the watchdog fails.
#[test]
fn crafted_cache_with_unterminated_strings_is_linear() {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    let entries = 100_000usize;
    let table_end = 48 + entries * 24;
    let run = 2 * 1024 * 1024;
    let mut d = vec![b'x'; table_end + run];
    d[..table_end].fill(0);
    d[..MAGIC.len()].copy_from_slice(MAGIC);
    let put = |d: &mut Vec<u8>, at: usize, v: u32| d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut d, 20, entries as u32);
    for i in 0..entries {
        let e = 48 + i * 24;
        put(&mut d, e, 0x0303); // x86_64 libc6: every entry is read
        put(&mut d, e + 4, (table_end + i * 7) as u32);
        put(&mut d, e + 8, (table_end + i * 13) as u32);
    }
    let worker =
        std::thread::spawn(move || LdCache::parse(&d, Machine::X86_64, &[]).map(|c| c.len()));
    let start = Instant::now();
    while !worker.is_finished() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "parsing the crafted cache still runs after 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // No string ends inside the bound: no usable entry.
    assert_eq!(worker.join().unwrap(), Some(0));
}

/// Inputs the fuzz campaigns stopped on, each run through every entry point of the
/// fuzz targets under the watchdog.
///
/// - `verify-timeout-868b3999.elf`: a PIE whose `__rseq_cs` section header claims far more
///   bytes than the file holds; the descriptor scan walked the claimed size (minutes). The
///   scan is now bounded by the bytes present.
#[test]
fn fuzz_findings_finish() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reliability/fuzz");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let worker = std::thread::spawn(move || {
            exercise_elf(&data);
            exercise_cache(&data);
            exercise_link(&data);
        });
        let start = Instant::now();
        while !worker.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} still running after 20 s",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        worker
            .join()
            .unwrap_or_else(|_| panic!("{} panicked", path.display()));
    }
}
