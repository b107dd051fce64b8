//! The `error` field of every HTTP answer and of the peers' gRPC answers
//! (docs/PROTOCOL.md §3). Codes 0–24 are fixed by the existing client and servers;
//! new conditions are appended from 25 on.

use serde::{Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

/// One wire status code. The discriminant is the number on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Status {
    Success = 0,
    JsonParseError = 1,
    NetworkError = 2,
    GrpcError = 3,
    GrpcServerNotExists = 4,
    GrpcServerAlreadyExists = 5,
    ChattingServerNotExists = 6,
    ChattingServerAlreadyExists = 7,
    RedisUnknownError = 8,
    RedisCaptchaNotFound = 9,
    MysqlInternalError = 10,
    MysqlMissingInfo = 11,
    MysqlAccountNotExists = 12,
    LoginInfoError = 13,
    LoginUnsuccessful = 14,
    LoginForMultipleTimes = 15,
    LogoutUnsuccessful = 16,
    SearchingUsernameNotFound = 17,
    FriendingYourself = 18,
    FriendingError = 19,
    FriendingTargetUserNotFound = 20,
    FileUploadError = 21,
    FileCreateError = 22,
    FileOpenError = 23,
    FileWriteError = 24,
    InputInvalid = 25,
    AccountAlreadyExists = 26,
    RateLimited = 27,
}

impl Status {
    /// Every code, in wire order; the README's table is generated from the
    /// same names.
    pub const ALL: [Status; 28] = [
        Status::Success,
        Status::JsonParseError,
        Status::NetworkError,
        Status::GrpcError,
        Status::GrpcServerNotExists,
        Status::GrpcServerAlreadyExists,
        Status::ChattingServerNotExists,
        Status::ChattingServerAlreadyExists,
        Status::RedisUnknownError,
        Status::RedisCaptchaNotFound,
        Status::MysqlInternalError,
        Status::MysqlMissingInfo,
        Status::MysqlAccountNotExists,
        Status::LoginInfoError,
        Status::LoginUnsuccessful,
        Status::LoginForMultipleTimes,
        Status::LogoutUnsuccessful,
        Status::SearchingUsernameNotFound,
        Status::FriendingYourself,
        Status::FriendingError,
        Status::FriendingTargetUserNotFound,
        Status::FileUploadError,
        Status::FileCreateError,
        Status::FileOpenError,
        Status::FileWriteError,
        Status::InputInvalid,
        Status::AccountAlreadyExists,
        Status::RateLimited,
    ];

    /// The number on the wire.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The status a foreign number stands for, if it is one of ours. Codes
    /// from peers are only passed on when this recognises them.
    pub fn from_code(code: i32) -> Option<Status> {
        usize::try_from(code)
            .ok()
            .and_then(|index| Status::ALL.get(index).copied())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i32(self.code())
    }
}

/// In the OpenAPI document: an integer, one of the codes, each named.
impl utoipa::PartialSchema for Status {
    fn schema() -> RefOr<Schema> {
        let names: Vec<String> = Status::ALL
            .iter()
            .map(|status| format!("{} {status:?}", status.code()))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .enum_values(Some(Status::ALL.map(Status::code)))
            .description(Some(format!(
                "The protocol status (docs/PROTOCOL.md §3): {}.",
                names.join(", ")
            )))
            .into()
    }
}

impl utoipa::ToSchema for Status {}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn every_code_round_trips_and_matches_its_position() {
        for (index, status) in Status::ALL.iter().enumerate() {
            assert_eq!(status.code() as usize, index);
            assert_eq!(Status::from_code(status.code()), Some(*status));
        }
    }

    #[test]
    fn the_appended_codes_keep_their_numbers() {
        assert_eq!(Status::InputInvalid.code(), 25);
        assert_eq!(Status::AccountAlreadyExists.code(), 26);
        assert_eq!(Status::RateLimited.code(), 27);
    }

    #[test]
    fn foreign_codes_are_not_recognised() {
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(Status::from_code(28), None);
        assert_eq!(Status::from_code(i32::MAX), None);
    }
}
