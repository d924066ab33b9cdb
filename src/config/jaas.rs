//! JAAS login configuration files, as ZooKeeper operators write them.
//!
//! ZooKeeper takes its SASL credentials from the file the JVM is given as
//! `-Djava.security.auth.login.config=...`: a section named `Server` (or
//! `zookeeper.sasl.serverconfig`) lists login modules with their options, e.g.
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! This module reads that syntax (Java's `ConfigFile`: sections of `module flag
//! key=value ... ;` entries, quoted or bare values, `//`, `/* */` and `#` comments) and
//! nothing more; what a module's options mean is up to its user (`server::auth`).

use std::collections::BTreeMap;

/// One login module entry of a section.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginModule {
    /// The module's class, e.g. `org.apache.zookeeper.server.auth.DigestLoginModule`.
    pub class: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

/// Options hold passwords: never print them.
impl std::fmt::Debug for LoginModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginModule")
            .field("class", &self.class)
            .field("flag", &self.flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semicolon,
    Equals,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    match chars.next() {
                        Some('/') if last == '*' => break,
                        Some(c) => last = c,
                        None => return Err("unterminated /* comment".into()),
                    }
                }
            }
            '{' => out.push(Token::Open),
            '}' => out.push(Token::Close),
            ';' => out.push(Token::Semicolon),
            '=' => out.push(Token::Equals),
            '"' => out.push(Token::Quoted(quoted_rest(&mut chars)?)),
            c => {
                let mut word = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '=' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

/// The rest of a `"`-quoted string whose opening quote was just read: up to the closing
/// quote, a backslash taking the next character as it is. JAAS values and SASL
/// DIGEST-MD5 directives (`server::auth::digest_md5`) quote alike.
pub fn quoted_rest(chars: &mut impl Iterator<Item = char>) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match chars.next() {
            Some('"') => return Ok(value),
            Some('\\') => match chars.next() {
                Some(c) => value.push(c),
                None => return Err("unterminated quoted value".into()),
            },
            Some(c) => value.push(c),
            None => return Err("unterminated quoted value".into()),
        }
    }
}

/// Every section of a JAAS file, by name.
pub fn parse(text: &str) -> Result<BTreeMap<String, Vec<LoginModule>>, String> {
    let tokens = tokens(text)?;
    let mut it = tokens.into_iter().peekable();
    let mut sections = BTreeMap::new();
    let word = |t: Option<Token>, what: &str| match t {
        Some(Token::Word(w)) => Ok(w),
        other => Err(format!("expected {what}, found {other:?}")),
    };
    while let Some(t) = it.next() {
        let name = word(Some(t), "a section name")?;
        if it.next() != Some(Token::Open) {
            return Err(format!("expected '{{' after {name}"));
        }
        let mut modules = Vec::new();
        loop {
            match it.next() {
                Some(Token::Close) => break,
                Some(Token::Word(class)) => {
                    let flag = word(it.next(), &format!("a control flag after {class}"))?;
                    let mut options = BTreeMap::new();
                    loop {
                        match it.next() {
                            Some(Token::Semicolon) => break,
                            Some(Token::Word(key)) => {
                                if it.next() != Some(Token::Equals) {
                                    return Err(format!("expected '=' after {key} in {name}"));
                                }
                                let value = match it.next() {
                                    Some(Token::Word(v) | Token::Quoted(v)) => v,
                                    other => {
                                        return Err(format!(
                                            "expected a value for {key} in {name}, found {other:?}"
                                        ))
                                    }
                                };
                                options.insert(key, value);
                            }
                            other => {
                                return Err(format!(
                                    "expected an option or ';' in {name}, found {other:?}"
                                ))
                            }
                        }
                    }
                    modules.push(LoginModule {
                        class,
                        flag,
                        options,
                    });
                }
                other => {
                    return Err(format!(
                        "expected a login module in {name}, found {other:?}"
                    ))
                }
            }
        }
        if it.peek() == Some(&Token::Semicolon) {
            it.next();
        }
        sections.insert(name, modules);
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zookeeper_and_kafka_style_files() {
        let text = r#"
            // the server's credentials
            Server {
                org.apache.zookeeper.server.auth.DigestLoginModule required
                user_super="adminsecret"
                user_bob="bob \"quoted\" secret";
            };
            /* Kerberos, too */
            QuorumServer {
                com.sun.security.auth.module.Krb5LoginModule required
                useKeyTab=true keyTab="/etc/zk.keytab" storeKey=true
                principal="zookeeper/zk1.example.com@EXAMPLE.COM";
            };
            # a client section
            Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="bob" password="x"; };
        "#;
        let sections = parse(text).unwrap();
        let server = &sections["Server"][0];
        assert_eq!(
            server.class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(server.flag, "required");
        assert_eq!(server.options["user_super"], "adminsecret");
        assert_eq!(server.options["user_bob"], "bob \"quoted\" secret");
        assert_eq!(sections["QuorumServer"][0].options["useKeyTab"], "true");
        assert_eq!(sections["Client"][0].options["username"], "bob");
        assert!(
            !format!("{server:?}").contains("adminsecret"),
            "passwords never printed"
        );
    }

    #[test]
    fn malformed_files_say_where() {
        assert!(parse("Server { x required a=; };").is_err());
        assert!(parse("Server { x required a=\"open; };").is_err());
        assert!(parse("Server x required a=b; };").is_err());
        assert!(parse("/* never closed").is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
