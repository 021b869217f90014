//! EVE — skeleton; see issue 3.
