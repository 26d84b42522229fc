//! Positions in the editor. Diagnostics count columns in characters; a
//! browser textarea counts UTF-16 code units. These convert between the two
//! so that positions stay right with non-ASCII text.

/// The UTF-16 offset of 1-based `line` and `column` (in characters) in
/// `text`. A line past the end gives the end of the text; a column past the
/// end of its line gives the end of that line.
pub fn utf16_offset(text: &str, line: u32, column: u32) -> u32 {
    let mut offset = 0usize;
    let mut lines = text.split('\n');
    for _ in 1..line.max(1) {
        match lines.next() {
            Some(l) => offset += l.encode_utf16().count() + 1,
            None => return text.encode_utf16().count() as u32,
        }
    }
    let Some(current) = lines.next() else {
        return text.encode_utf16().count() as u32;
    };
    offset += current
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(char::len_utf16)
        .sum::<usize>();
    offset as u32
}

/// The 1-based line and column (in characters) of a UTF-16 offset; an
/// offset inside a surrogate pair counts as its character.
pub fn line_col(text: &str, utf16: u32) -> (u32, u32) {
    let (mut line, mut column, mut seen) = (1u32, 1u32, 0usize);
    for c in text.chars() {
        if seen >= utf16 as usize {
            break;
        }
        seen += c.len_utf16();
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii() {
        let t = "ab\ncde\n";
        assert_eq!(utf16_offset(t, 1, 1), 0);
        assert_eq!(utf16_offset(t, 2, 2), 4);
        assert_eq!(line_col(t, 4), (2, 2));
        assert_eq!(utf16_offset(t, 3, 1), 7);
        // Past the end.
        assert_eq!(utf16_offset(t, 9, 1), 7);
        assert_eq!(utf16_offset(t, 1, 99), 2);
    }

    #[test]
    fn non_ascii() {
        // 'é' is one UTF-16 unit, '😀' two; columns count characters.
        let t = "é😀x\n😀y";
        assert_eq!(utf16_offset(t, 1, 3), 3);
        assert_eq!(utf16_offset(t, 1, 4), 4);
        assert_eq!(utf16_offset(t, 2, 2), 7);
        assert_eq!(line_col(t, 3), (1, 3));
        assert_eq!(line_col(t, 7), (2, 2));
    }

    #[test]
    fn round_trip() {
        let t = "a: ü\n  b: 😀😀 c\n\nd";
        for (i, l) in t.split('\n').enumerate() {
            for c in 1..=l.chars().count() as u32 + 1 {
                let off = utf16_offset(t, i as u32 + 1, c);
                assert_eq!(line_col(t, off), (i as u32 + 1, c));
            }
        }
    }
}
