//! Runnable duende examples; see the numbered files beside this one.
