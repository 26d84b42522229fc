//! Column alignment the way Go's `text/tabwriter` does it, which is how
//! kubectl lays out `get` tables and `describe` output.
//!
//! Text is cells separated by `\t`; a column is aligned over each block of
//! consecutive lines that have a cell in it, and the last cell of a line is
//! never padded.

/// Aligns `text` with the given minimum cell width and padding (the
/// tabwriter's `minwidth` and `padding`; padding character space, left-aligned).
pub fn align(text: &str, minwidth: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_terminator('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut widths = Vec::new();
    format(
        &lines,
        0,
        lines.len(),
        &mut widths,
        minwidth,
        padding,
        &mut out,
    );
    out
}

fn width(cell: &str) -> usize {
    cell.chars().count()
}

fn format(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    minwidth: usize,
    padding: usize,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        // A block of lines with a cell in this column starts here.
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = minwidth;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(w);
        format(lines, line0, this, widths, minwidth, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                let target = widths.get(j).copied().unwrap_or(0);
                let pad = target.saturating_sub(width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::align;

    #[test]
    fn aligns_blocks_like_go_tabwriter() {
        let text = "Name:\tweb\nPort:\t<unset>\t80/TCP\nTargetPort:\t8080/TCP\n";
        assert_eq!(
            align(text, 0, 2),
            "Name:        web\nPort:        <unset>  80/TCP\nTargetPort:  8080/TCP\n"
        );
    }

    #[test]
    fn minimum_width_applies() {
        assert_eq!(
            align("A\tB\tC\nxx\ty\tz\n", 6, 3),
            "A     B     C\nxx    y     z\n"
        );
    }
}
