//! SQL helpers shared by the stores: [`text_enum!`](crate::text_enum), the
//! one way a closed set of values (a status, a role, a priority, a kind) is
//! stored: as TEXT, read back through the enum, so a value no variant names
//! decodes as an error ([`StoreError::Corrupt`](crate::StoreError::Corrupt)),
//! never as a string a page shows or a 400.

/// Declares a `Copy` enum stored as TEXT, with `ALL`, `as_str`, `parse`
/// (an [`Invalid`](crate::StoreError::Invalid) error naming `field` and the
/// allowed values), `from_text`, `Display`, serde as the text, and sqlx
/// `Type`/`Encode`/`Decode` for the `Any` driver:
///
/// ```ignore
/// text_enum! {
///     /// Where a ticket came from.
///     pub enum Source (field "source") {
///         Staff = "staff",
///         Email = "email",
///     }
/// }
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$m:meta])*
        $vis:vis enum $name:ident (field $field:literal) {
            $( $(#[$vm:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $( $(#[$vm])* $variant ),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            /// The stored (and displayed, and serialized) text.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text ),+ }
            }

            /// The value named by `s`, if any.
            pub fn from_text(s: &str) -> Option<$name> {
                match s { $( $text => Some($name::$variant), )+ _ => None }
            }

            /// The value named by `s` (user input): an error names the field
            /// and the allowed values.
            pub fn parse(s: &str) -> Result<$name, $crate::StoreError> {
                Self::from_text(s.trim()).ok_or_else(|| {
                    let allowed: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    $crate::StoreError::invalid($field, format!("{s:?} is not one of {}", allowed.join(", ")))
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                $name::from_text(&s).ok_or_else(|| {
                    let allowed: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    ::serde::de::Error::custom(format!("{s:?} is not one of {}", allowed.join(", ")))
                })
            }
        }

        impl ::sqlx::Type<::sqlx::Any> for $name {
            fn type_info() -> ::sqlx::any::AnyTypeInfo {
                <str as ::sqlx::Type<::sqlx::Any>>::type_info()
            }
            fn compatible(ty: &::sqlx::any::AnyTypeInfo) -> bool {
                <str as ::sqlx::Type<::sqlx::Any>>::compatible(ty)
            }
        }

        impl<'q> ::sqlx::Encode<'q, ::sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <::sqlx::Any as ::sqlx::Database>::ArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'q, ::sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Any> for $name {
            fn decode(
                v: <::sqlx::Any as ::sqlx::Database>::ValueRef<'r>,
            ) -> Result<$name, ::sqlx::error::BoxDynError> {
                let s = <&str as ::sqlx::Decode<'r, ::sqlx::Any>>::decode(v)?;
                $name::from_text(s).ok_or_else(|| format!("{s:?} is not a stored {}", stringify!($name)).into())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::db::Db;
    use sqlx::Row;

    crate::text_enum! {
        /// A test enum.
        pub enum Colour (field "colour") {
            Red = "red",
            Light = "light-blue",
        }
    }

    #[derive(sqlx::FromRow)]
    struct Paint {
        id: i64,
        colour: Colour,
        note: Option<String>,
    }

    #[tokio::test]
    async fn enums_round_trip_and_unknown_text_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/e.db", dir.path().display())).await.unwrap();
        sqlx::query("CREATE TABLE paints (id BIGINT, colour TEXT NOT NULL, note TEXT)")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO paints VALUES (1, $1, NULL), (2, 'purple', 'x')")
            .bind(Colour::Light)
            .execute(&db.pool)
            .await
            .unwrap();
        let p: Paint =
            sqlx::query_as("SELECT id, colour, note FROM paints WHERE id = 1").fetch_one(&db.pool).await.unwrap();
        assert_eq!((p.id, p.colour, p.note), (1, Colour::Light, None));
        let r = sqlx::query("SELECT colour FROM paints WHERE id = 2").fetch_one(&db.pool).await.unwrap();
        let e: crate::StoreError = r.try_get::<Colour, _>("colour").unwrap_err().into();
        assert!(matches!(e, crate::StoreError::Corrupt(_)), "{e:?}");
        let bad = Colour::parse("green").unwrap_err();
        assert_eq!(bad.field(), Some("colour"));
        assert_eq!(bad.to_string(), "colour: \"green\" is not one of red, light-blue");
        assert_eq!(serde_json::to_string(&Colour::Red).unwrap(), "\"red\"");
        assert!(serde_json::from_str::<Colour>("\"blue\"").is_err());
    }
}

/// An optional float as a statement parameter: its exact decimal text
/// (Rust prints the shortest string that reads back as the same `f64`),
/// for SQL that writes the parameter as `CAST($n AS DOUBLE PRECISION)`.
///
/// Why not the `f64` itself: sqlx 0.9's `Any` driver sends a NULL `f64` to
/// PostgreSQL typed as `float4`; the connection caches the statement with
/// that parameter type, and the next execution with a number (8 bytes) is
/// refused ("incorrect binary data format"). Text is typed the same way
/// whether NULL or not, and the cast reads it on both backends.
pub fn real(v: Option<f64>) -> Option<String> {
    v.map(|x| x.to_string())
}

#[cfg(test)]
mod real_tests {
    #[test]
    fn floats_go_as_text_that_reads_back_exactly() {
        for x in [45.0, -93.123_456_789, 0.1 + 0.2, f64::MIN_POSITIVE, 1e300] {
            assert_eq!(super::real(Some(x)).unwrap().parse::<f64>().unwrap(), x);
        }
        assert_eq!(super::real(None), None);
    }
}
