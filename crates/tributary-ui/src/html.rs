//! Putting values into HTML: every dynamic value goes through [`escape_html`], and the pages are
//! filled in one pass, so a value can never be read as markup or as another placeholder.

/// `s` with `& < > " '` replaced by character references: safe in element text and in quoted
/// attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` percent-encoded for a URL's query value: only unreserved characters (RFC 3986) are left.
pub(crate) fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `template` with each `{{key}}` replaced by the HTML-escaped value of `key` in `values`, in
/// one pass (a value that contains `{{key}}` stays as it is). Unknown keys are left as they are.
pub(crate) fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let found = after.find("}}").and_then(|end| {
            let key = &after[..end];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (v, end))
        });
        match found {
            Some((value, end)) => {
                out.push_str(&escape_html(value));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert('1')</script> & "x""#),
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; &quot;x&quot;"
        );
        assert_eq!(escape_html("plain é"), "plain é");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("a&b=c d/é~"), "a%26b%3Dc%20d%2F%C3%A9~");
    }

    #[test]
    fn templates_are_filled_once_and_escaped() {
        let page = render(
            "<h1>{{title}}</h1><a href=\"{{home}}\">{{missing}}",
            &[("title", "{{home}} <b>"), ("home", "/?token=a&b")],
        );
        assert_eq!(
            page,
            "<h1>{{home}} &lt;b&gt;</h1><a href=\"/?token=a&amp;b\">{{missing}}"
        );
    }
}
