//! Critical-section verification on arbitrary bytes: loading the image (with relocations),
//! discovering descriptors, decoding and checking every section, rendering the report, and
//! the annotated listing. Must return a report or an error, never panic or hang.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rseq_link_check::__fuzz::asm::listing::build_listing;
use rseq_link_check::__fuzz::render::render_text;
use rseq_link_check::__fuzz::verify::{analyse, Image};

fuzz_target!(|data: &[u8]| {
    let Ok(image) = Image::parse(Path::new("fuzz.o"), data) else {
        return;
    };
    let analysis = analyse(&image, "fuzz.o");
    let _ = render_text(&analysis.report);
    let _ = analysis.report.exit_code();
    let _ = build_listing(&image, "fuzz.o", None);
});
