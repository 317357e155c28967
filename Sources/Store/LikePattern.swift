/// An ILIKE/LIKE pattern matching the rows that contain `text` literally: its `\`, `%` and `_`
/// escaped (PostgreSQL's default escape character), wrapped in `%`. The patient list and the inbox
/// search use it.
func likeContaining(_ text: String) -> String {
    "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
}
