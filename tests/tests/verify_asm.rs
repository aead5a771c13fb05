//! `rseq-link-check asm`: the annotated listing of a hand-written critical section shows
//! the descriptor store, the start, commit, abort and exit markers, the signature and
//! the verdict, on x86_64 and aarch64, and the function filter selects sections.

mod verify_support;

use rseq_link_check::__fuzz::asm::{listing_for_file, Marker};
use rseq_link_check::{__fuzz::render::render_listing, ColorChoice};
use verify_support::{build_aarch64, build_x86_64, Form};

fn markers(listing: &rseq_link_check::__fuzz::asm::AsmListing) -> Vec<Marker> {
    listing.sections[0]
        .blocks
        .iter()
        .flat_map(|b| b.lines.iter())
        .filter_map(|l| l.marker)
        .collect()
}

#[test]
fn x86_64_listing_marks_every_point_of_the_reference_section() {
    let dir = tempfile::tempdir().unwrap();
    for &form in Form::ALL {
        let path = build_x86_64(dir.path(), "correct-reference", false, form);
        let listing = listing_for_file(&path, None).unwrap();
        let text = render_listing(&listing, ColorChoice::Never);
        if std::env::var_os("SHOW_LISTING").is_some() {
            println!("{text}");
        }
        assert_eq!(listing.sections.len(), 1);
        assert_eq!(
            markers(&listing),
            [
                Marker::Start,
                Marker::Commit,
                Marker::Signature,
                Marker::Abort,
                Marker::Exit
            ],
            "{form:?}:\n{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        let first_insn = lines.iter().position(|l| l.contains("lea")).expect(&text);
        // The descriptor's address is taken, then stored into rseq_cs through %fs.
        assert!(lines[first_insn].contains("; descriptor 0x"), "{text}");
        assert!(lines[first_insn + 1].contains("fs:[8], rax"), "{text}");
        assert!(
            lines[first_insn + 1].contains("rseq_cs = descriptor"),
            "{text}"
        );
        assert!(
            lines[first_insn + 2].trim_start().starts_with("start:"),
            "{text}"
        );
        assert!(text.contains("cmpxchg_percpu  section ["), "{text}");
        assert!(text.contains("; → abort"), "{text}");
        assert!(text.contains("; → exit 0x"), "{text}");
        assert!(text.contains("; commit"), "{text}");
        assert!(text.contains("0f b9 3d 53 30 05 53"), "{text}");
        assert!(text.contains("; RSEQ_SIG 0x53053053"), "{text}");
        assert!(text.contains("verdict: ok"), "{text}");
        assert!(!text.contains('\x1b'), "no colour unless asked");
    }
}

#[test]
fn aarch64_listing_marks_every_point_of_the_reference_section() {
    let dir = tempfile::tempdir().unwrap();
    for &form in Form::ALL {
        let path = build_aarch64(dir.path(), "correct-reference", false, form);
        let listing = listing_for_file(&path, None).unwrap();
        let text = render_listing(&listing, ColorChoice::Never);
        if std::env::var_os("SHOW_LISTING").is_some() {
            println!("{text}");
        }
        assert_eq!(
            markers(&listing),
            [
                Marker::Start,
                Marker::Commit,
                Marker::Signature,
                Marker::Abort,
                Marker::Exit
            ],
            "{form:?}:\n{text}"
        );
        assert!(text.contains("adrp"), "{text}");
        assert!(
            text.contains("str    x9, [x10, #0x8]") && text.contains("; rseq_cs = descriptor"),
            "{text}"
        );
        assert!(text.contains("; descriptor 0x"), "{text}");
        assert!(text.contains("00 bc 28 d4"), "{text}");
        assert!(text.contains("verdict: ok"), "{text}");
    }
}

#[test]
fn broken_sections_show_their_findings_under_the_listing_and_colour_is_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_x86_64(dir.path(), "call-in-section", true, Form::Pie);
    let listing = listing_for_file(&path, None).unwrap();
    let text = render_listing(&listing, ColorChoice::Never);
    assert!(text.contains("verdict: 1 finding"), "{text}");
    assert!(text.contains("error[rseq-call-in-section]"), "{text}");
    let coloured = render_listing(&listing, ColorChoice::Always);
    assert!(coloured.contains("\x1b[31"), "{coloured}");
}

#[test]
fn the_function_filter_selects_sections_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_x86_64(dir.path(), "correct-reference", false, Form::NonPie);
    let listing = listing_for_file(&path, Some("cmpxchg")).unwrap();
    assert_eq!((listing.sections.len(), listing.total_sections), (1, 1));
    let listing = listing_for_file(&path, Some("no_such_function")).unwrap();
    assert_eq!((listing.sections.len(), listing.total_sections), (0, 1));
    let text = render_listing(&listing, ColorChoice::Never);
    assert!(text.contains("0 of 1 critical section"), "{text}");
}
