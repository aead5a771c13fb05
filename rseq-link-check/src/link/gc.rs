//! `--gc-sections`: which input sections survive. A section lives when a root reaches it
//! through relocations; a definition in a dead section is not in the output at all.
//!
//! Roots, as in GNU ld's default script and lld's `MarkLive`: the sections defining exported
//! (`.dynsym`) symbols, the entry point (`main` behind the start files), `-u` symbols, and the
//! sections the linker always keeps (`.init`, `.fini`, `.init_array`, `.fini_array`,
//! `.preinit_array`, `.ctors`, `.dtors`, notes, `SHF_GNU_RETAIN`). `.eh_frame` and
//! non-allocated sections (debug info) do not keep anything alive. A reference to
//! `__start_SEC`/`__stop_SEC` keeps every section named `SEC`.

use std::collections::{HashSet, VecDeque};

use crate::elf::consts as elf;

use super::input::{RelocTarget, SectionGraph};
use super::resolve::{DefSource, Resolution};
use super::LinkError;

fn always_kept(name: &str, sh_type: u32, retain: bool) -> bool {
    const KEEP: &[&str] = &[
        ".init",
        ".fini",
        ".preinit_array",
        ".init_array",
        ".fini_array",
        ".ctors",
        ".dtors",
        ".jcr",
    ];
    retain
        || matches!(
            sh_type,
            elf::SHT_INIT_ARRAY | elf::SHT_FINI_ARRAY | elf::SHT_PREINIT_ARRAY | elf::SHT_NOTE
        )
        || KEEP
            .iter()
            .any(|k| name == *k || name.strip_prefix(k).is_some_and(|r| r.starts_with('.')))
}

/// Decides whether section `target` of loaded object `obj` survives garbage collection, given
/// the names of the symbols the output exports (their definitions are roots) and the other
/// root symbol names (entry, `-u`).
pub fn section_is_live(
    res: &Resolution,
    target: (usize, usize),
    roots: &[String],
) -> Result<bool, LinkError> {
    let mut graphs: Vec<SectionGraph> = Vec::with_capacity(res.objects.len());
    for o in &res.objects {
        graphs.push(o.section_graph()?);
    }
    let mut live: HashSet<(usize, usize)> = HashSet::new();
    let mut queue: VecDeque<(usize, usize)> = VecDeque::new();
    let push = |n: (usize, usize), live: &mut HashSet<(usize, usize)>, q: &mut VecDeque<_>| {
        if live.insert(n) {
            q.push_back(n);
        }
    };
    for (oi, g) in graphs.iter().enumerate() {
        for si in 0..g.names.len() {
            if g.alloc[si] && always_kept(&g.names[si], g.sh_type[si], g.retain[si]) {
                push((oi, si), &mut live, &mut queue);
            }
        }
    }
    for name in roots {
        if let Some(n) = def_node(res, name) {
            push(n, &mut live, &mut queue);
        }
    }
    let mut steps = 0usize;
    while let Some((oi, si)) = queue.pop_front() {
        if (oi, si) == target {
            return Ok(true);
        }
        steps += 1;
        if steps > 10_000_000 {
            break;
        }
        let Some(g) = graphs.get(oi) else { continue };
        if g.names.get(si).is_some_and(|n| n == ".eh_frame") {
            continue;
        }
        let edges = g.edges.get(si).cloned().unwrap_or_default();
        for e in edges {
            match e {
                RelocTarget::Section(s) => push((oi, s), &mut live, &mut queue),
                RelocTarget::Global(name) => {
                    if let Some(n) = def_node(res, &name) {
                        push(n, &mut live, &mut queue);
                    }
                    let sec = name
                        .strip_prefix("__start_")
                        .or_else(|| name.strip_prefix("__stop_"));
                    if let Some(sec) = sec {
                        for (o2, g2) in graphs.iter().enumerate() {
                            for (s2, n2) in g2.names.iter().enumerate() {
                                if n2 == sec {
                                    push((o2, s2), &mut live, &mut queue);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(live.contains(&target))
}

fn def_node(res: &Resolution, name: &str) -> Option<(usize, usize)> {
    let def = res.symbols.get(name)?.def.as_ref()?;
    match (&def.source, def.section) {
        (DefSource::Object(o), Some(s)) => Some((*o, s)),
        _ => None,
    }
}
