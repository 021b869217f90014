//! What shows as text: one definition for the content file's checks and EVE's message guard.

/// Characters that show nothing on their own: whitespace, control characters (a NUL, an
/// escape), Unicode's default-ignorable code points (zero-width spaces and joiners, direction
/// marks, fillers, variation selectors, tags; `Default_Ignorable_Code_Point` in the Unicode
/// Character Database's `DerivedCoreProperties.txt`), and the blank Braille pattern, a common
/// stand-in for an empty message.
pub fn shows_nothing(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Whether `text` shows anything: false for an empty text and for one made only of characters
/// that [`shows_nothing`] (spaces, a zero-width space).
pub fn shows_something(text: &str) -> bool {
    !text.chars().all(shows_nothing)
}
