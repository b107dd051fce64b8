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
    /// A reset without a code: nothing changed yet; if the name and
    /// address are one account's, a confirmation link was mailed to it.
    ResetConfirmationMailed = 28,
}

impl Status {
    /// Every code, in wire order. A test checks the README's status table
    /// against these and their names.
    pub const ALL: [Status; 29] = [
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
        Status::ResetConfirmationMailed,
    ];

    /// The name the protocol gives the code (its C++ enum's, spelling
    /// mistakes included).
    pub const fn wire_name(self) -> &'static str {
        match self {
            Status::Success => "SERVICE_SUCCESS",
            Status::JsonParseError => "JSONPARSE_ERROR",
            Status::NetworkError => "NETWORK_ERROR",
            Status::GrpcError => "GRPC_ERROR",
            Status::GrpcServerNotExists => "GRPC_SERVER_NOT_EXISTS",
            Status::GrpcServerAlreadyExists => "GRPC_SERVER_ALREADY_EXISTS",
            Status::ChattingServerNotExists => "CHATTING_SERVER_NOT_EXISTS",
            Status::ChattingServerAlreadyExists => "CHATTING_SERVER_ALREADY_EXISTS",
            Status::RedisUnknownError => "REDIS_UNKOWN_ERROR",
            Status::RedisCaptchaNotFound => "REDIS_CPATCHA_NOT_FOUND",
            Status::MysqlInternalError => "MYSQL_INTERNAL_ERROR",
            Status::MysqlMissingInfo => "MYSQL_MISSING_INFO",
            Status::MysqlAccountNotExists => "MYSQL_ACCOUNT_NOT_EXISTS",
            Status::LoginInfoError => "LOGIN_INFO_ERROR",
            Status::LoginUnsuccessful => "LOGIN_UNSUCCESSFUL",
            Status::LoginForMultipleTimes => "LOGIN_FOR_MULTIPLE_TIMES",
            Status::LogoutUnsuccessful => "LOGOUT_UNSUCCESSFUL",
            Status::SearchingUsernameNotFound => "SEARCHING_USERNAME_NOT_FOUND",
            Status::FriendingYourself => "FRIENDING_YOURSELF",
            Status::FriendingError => "FRIENDING_ERROR",
            Status::FriendingTargetUserNotFound => "FRIENDING_TARGET_USER_NOT_FOUND",
            Status::FileUploadError => "FILE_UPLOAD_ERROR",
            Status::FileCreateError => "FILE_CREATE_ERROR",
            Status::FileOpenError => "FILE_OPEN_ERROR",
            Status::FileWriteError => "FILE_WRITE_ERROR",
            Status::InputInvalid => "INPUT_INVALID",
            Status::AccountAlreadyExists => "ACCOUNT_ALREADY_EXISTS",
            Status::RateLimited => "RATE_LIMITED",
            Status::ResetConfirmationMailed => "RESET_CONFIRMATION_MAILED",
        }
    }

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
            .map(|status| format!("{} {}", status.code(), status.wire_name()))
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
        assert_eq!(Status::ResetConfirmationMailed.code(), 28);
    }

    /// The README's table: a row per code (`| 8 | REDIS_UNKOWN_ERROR |`),
    /// or per range (`| 14–24 | LOGIN_UNSUCCESSFUL … FILE_WRITE_ERROR |`).
    #[test]
    fn the_readmes_status_table_names_every_code_once() {
        let readme = include_str!("../README.md");
        let table = readme
            .split("## Status codes")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").nth(1))
            .expect("the README's status table");
        let mut covered = Vec::new();
        for row in table.lines().skip(2) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (codes, names) = (cells[1], cells[2]);
            let (first, last) = codes.split_once('–').unwrap_or((codes, codes));
            let (first, last): (i32, i32) = (first.parse().unwrap(), last.parse().unwrap());
            let (first_name, last_name) = names.split_once(" … ").unwrap_or((names, names));
            let name = |code| Status::from_code(code).map(Status::wire_name);
            assert_eq!(name(first), Some(first_name), "README row {row}");
            assert_eq!(name(last), Some(last_name), "README row {row}");
            covered.extend(first..=last);
        }
        let every: Vec<i32> = Status::ALL.iter().map(|status| status.code()).collect();
        assert_eq!(covered, every);
    }

    #[test]
    fn foreign_codes_are_not_recognised() {
        assert_eq!(Status::from_code(-1), None);
        assert_eq!(Status::from_code(29), None);
        assert_eq!(Status::from_code(i32::MAX), None);
    }
}
