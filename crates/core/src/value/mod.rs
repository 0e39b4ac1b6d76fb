//! A record's value as the functions read it: a JSON object's fields ([`Object`]), each left as the JSON text
//! it came as until something reads it, and the paths that name a field or a piece of Kafka metadata
//! ([`Path`]). The transform stage makes objects; sinks read them.

mod object;
mod path;

pub use object::{JsonOut, Object, Slot};
pub use path::{routing_text, Meta, Path, META_NAMES};
