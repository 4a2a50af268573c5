//! `${NAME}` substitution.

use std::collections::HashMap;

use crate::error::JobError;

/// Replace every `${NAME}` with its value. Every name without a value is reported at once.
/// `$${NAME}` is a literal `${NAME}`.
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> Result<String, JobError> {
    let mut out = String::with_capacity(text.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        let escaped = pos > 0 && rest.as_bytes()[pos - 1] == b'$';
        let Some(end) = rest[pos + 2..].find('}') else {
            out.push_str(rest);
            rest = "";
            break;
        };
        let name = &rest[pos + 2..pos + 2 + end];
        if escaped {
            out.push_str(&rest[..pos - 1]);
            out.push_str(&rest[pos..pos + 3 + end]);
        } else {
            out.push_str(&rest[..pos]);
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                }
            }
        }
        rest = &rest[pos + 3 + end..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(JobError::MissingVariables(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_names_every_missing_variable() {
        let vars = HashMap::from([("a".to_string(), "1".to_string())]);
        assert_eq!(substitute("x ${a} y $${a}", &vars).unwrap(), "x 1 y ${a}");
        let err = substitute("${b} ${a} ${c} ${b}", &vars)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("${b}, ${c}") && err.contains("--set b=VALUE"),
            "{err}"
        );
    }
}
