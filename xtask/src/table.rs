//! The one table layout of xtask's reports (VM results, benchmarks): columns
//! two spaces apart, no borders, no trailing blanks, as capacity prints its own.
use comfy_table::{presets, CellAlignment, Row, Table};

/// `header` and `rows` as plain columns; the columns numbered in `right` are
/// right-aligned (numbers), the others left-aligned.
pub fn plain(header: impl Into<Row>, rows: impl IntoIterator<Item = impl Into<Row>>, right: &[usize]) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header).add_rows(rows);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.trim_fmt()
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_right_text_left_two_spaces_apart() {
        let rows = [["1", "a", "x"], ["1000", "long name", ""]];
        assert_eq!(
            super::plain(["n", "name", "note"], rows, &[0]),
            "   n  name       note\n   1  a          x\n1000  long name"
        );
    }
}
