//! The pool state machine (no I/O, no clock). To be implemented.
