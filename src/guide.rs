//! Documentation only: the manual, one page per topic (no items here).
//!
//! The pages are written in `src/docs/*.md` and included as rustdoc, so that every Rust block
//! in them compiles and runs as a doctest.
#![doc = include_str!("docs/guide.md")]

pub mod configuration {
    #![doc = include_str!("docs/configuration.md")]
}

pub mod metrics {
    #![doc = include_str!("docs/metrics.md")]
}

pub mod labels {
    #![doc = include_str!("docs/labels.md")]
}

pub mod frameworks {
    #![doc = include_str!("docs/frameworks.md")]
}

pub mod placement {
    #![doc = include_str!("docs/placement.md")]
}

pub mod formats {
    #![doc = include_str!("docs/formats.md")]
}

pub mod native_histograms {
    #![doc = include_str!("docs/native_histograms.md")]
}

pub mod exemplars {
    #![doc = include_str!("docs/exemplars.md")]
}

pub mod opentelemetry {
    #![doc = include_str!("docs/opentelemetry.md")]
}

pub mod interop {
    #![doc = include_str!("docs/interop.md")]
}

pub mod security {
    #![doc = include_str!("docs/security.md")]
}
