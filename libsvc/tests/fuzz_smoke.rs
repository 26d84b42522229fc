//! The fuzz target's property on stable Rust: generated and mutated
//! manifests never make the pipeline panic, and the same input gives the
//! same output.

use libsvc::render::{Mode, RenderOptions, render};
use libsvc::{Input, Overrides, load};
use proptest::prelude::*;

fn run(text: &str) -> Vec<String> {
    let loaded = load(&[Input::new("p.yaml", text)], &Overrides::default());
    let mut out: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
    for mode in Mode::ALL {
        match render(&loaded, mode, &RenderOptions::default()) {
            Ok(r) => out.push(r.text),
            Err(e) => out.push(e.to_string()),
        }
    }
    out
}

const SEED: &str = include_str!("../../examples/hello-world.yaml");

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        run(&text);
    }

    #[test]
    fn yamlish_text_never_panics(text in "(apiVersion: v1\n|kind: (Service|Endpoints|Pod|EndpointSlice)\n|metadata:\n|  name: [a-z-]{0,8}\n|spec:\n|  ports:\n|  - port: [0-9a-z\"]{0,6}\n|    targetPort: [a-z0-9]{0,5}\n|  clusterIP: [0-9.:Nonea]{0,12}\n|  type: [A-Za-z]{0,12}\n|---\n|[\\[\\]{}&*!|>:-]| ){0,40}") {
        run(&text);
    }

    #[test]
    fn mutated_examples_never_panic_and_are_deterministic(pos in 0usize..2000, len in 0usize..20, with in "\\PC{0,10}") {
        let mut text = SEED.to_string();
        let mut start = pos.min(text.len());
        while !text.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        text.replace_range(start..end, &with);
        prop_assert_eq!(run(&text), run(&text));
    }
}
