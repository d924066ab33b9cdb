//! multi (14) / multiRead (22) request and response bodies. Hand-written:
//! each element is a `MultiHeader` followed by a body chosen by the header's
//! type, and the list ends with `MultiHeader { op_type: -1, done: true, err: -1 }`.

use bytes::BytesMut;
use nom::error::{Error, ErrorKind};
use nom::IResult;

use crate::consts::op;
use crate::{
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTtlRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, Record, SetDataRequest, SetDataResponse,
};

/// One operation inside a multi / multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// `op` is 1 (create), 15 (create2) or 19 (createContainer).
    Create { op: i32, req: CreateRequest },
    /// op 21.
    CreateTtl(CreateTtlRequest),
    /// op 2.
    Delete(DeleteRequest),
    /// op 5.
    SetData(SetDataRequest),
    /// op 13.
    Check(CheckVersionRequest),
    /// op 8 (multiRead only).
    GetChildren(GetChildrenRequest),
    /// op 4 (multiRead only).
    GetData(GetDataRequest),
}

impl MultiOp {
    /// The op code written in this op's `MultiHeader`.
    pub fn op_code(&self) -> i32 {
        match self {
            MultiOp::Create { op, .. } => *op,
            MultiOp::CreateTtl(_) => op::CREATE_TTL,
            MultiOp::Delete(_) => op::DELETE,
            MultiOp::SetData(_) => op::SET_DATA,
            MultiOp::Check(_) => op::CHECK,
            MultiOp::GetChildren(_) => op::GET_CHILDREN,
            MultiOp::GetData(_) => op::GET_DATA,
        }
    }

    fn write_body(&self, out: &mut BytesMut) {
        match self {
            MultiOp::Create { req, .. } => req.write(out),
            MultiOp::CreateTtl(r) => r.write(out),
            MultiOp::Delete(r) => r.write(out),
            MultiOp::SetData(r) => r.write(out),
            MultiOp::Check(r) => r.write(out),
            MultiOp::GetChildren(r) => r.write(out),
            MultiOp::GetData(r) => r.write(out),
        }
    }
}

/// Body of a multi (14) or multiRead (22) request (`MultiOperationRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    pub ops: Vec<MultiOp>,
}

/// One result inside a multi / multiRead response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// Header type 1.
    Create(CreateResponse),
    /// Header type 15 (create2, createTTL, createContainer results).
    Create2(Create2Response),
    /// Header type 2, no body.
    Delete,
    /// Header type 5.
    SetData(SetDataResponse),
    /// Header type 13, no body.
    Check,
    /// Header type 8.
    GetChildren(GetChildrenResponse),
    /// Header type 4.
    GetData(GetDataResponse),
    /// Header type -1, header err = code, body `ErrorResponse { err: code }`.
    Error(i32),
}

impl MultiResult {
    /// The type written in this result's `MultiHeader`.
    pub fn op_code(&self) -> i32 {
        match self {
            MultiResult::Create(_) => op::CREATE,
            MultiResult::Create2(_) => op::CREATE2,
            MultiResult::Delete => op::DELETE,
            MultiResult::SetData(_) => op::SET_DATA,
            MultiResult::Check => op::CHECK,
            MultiResult::GetChildren(_) => op::GET_CHILDREN,
            MultiResult::GetData(_) => op::GET_DATA,
            MultiResult::Error(_) => op::ERROR,
        }
    }
}

/// Body of a multi (14) or multiRead (22) reply (`MultiResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    pub results: Vec<MultiResult>,
}

const END: MultiHeader = MultiHeader {
    op_type: -1,
    done: true,
    err: -1,
};

fn unknown_type<T>(input: &[u8]) -> IResult<&[u8], T> {
    Err(nom::Err::Error(Error::new(input, ErrorKind::Switch)))
}

fn map<T, U>(r: IResult<&[u8], T>, f: impl FnOnce(T) -> U) -> IResult<&[u8], U> {
    r.map(|(rest, v)| (rest, f(v)))
}

impl Record for MultiRequest {
    fn read(input: &[u8]) -> IResult<&[u8], Self> {
        let mut ops = Vec::new();
        let mut rest = input;
        loop {
            // Each iteration consumes at least one header (9 bytes), so this
            // terminates on any finite input.
            let (body, h) = MultiHeader::read(rest)?;
            if h.done {
                return Ok((body, Self { ops }));
            }
            let (next, op) = match h.op_type {
                op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => {
                    let op = h.op_type;
                    map(CreateRequest::read(body), |req| MultiOp::Create { op, req })?
                }
                op::CREATE_TTL => map(CreateTtlRequest::read(body), MultiOp::CreateTtl)?,
                op::DELETE => map(DeleteRequest::read(body), MultiOp::Delete)?,
                op::SET_DATA => map(SetDataRequest::read(body), MultiOp::SetData)?,
                op::CHECK => map(CheckVersionRequest::read(body), MultiOp::Check)?,
                op::GET_CHILDREN => map(GetChildrenRequest::read(body), MultiOp::GetChildren)?,
                op::GET_DATA => map(GetDataRequest::read(body), MultiOp::GetData)?,
                _ => return unknown_type(rest),
            };
            ops.push(op);
            rest = next;
        }
    }

    fn write(&self, out: &mut BytesMut) {
        for o in &self.ops {
            MultiHeader {
                op_type: o.op_code(),
                done: false,
                err: -1,
            }
            .write(out);
            o.write_body(out);
        }
        END.write(out);
    }
}

impl Record for MultiResponse {
    fn read(input: &[u8]) -> IResult<&[u8], Self> {
        let mut results = Vec::new();
        let mut rest = input;
        loop {
            let (body, h) = MultiHeader::read(rest)?;
            if h.done {
                return Ok((body, Self { results }));
            }
            let (next, result) = match h.op_type {
                op::CREATE => map(CreateResponse::read(body), MultiResult::Create)?,
                op::CREATE2 => map(Create2Response::read(body), MultiResult::Create2)?,
                op::DELETE => (body, MultiResult::Delete),
                op::SET_DATA => map(SetDataResponse::read(body), MultiResult::SetData)?,
                op::CHECK => (body, MultiResult::Check),
                op::GET_CHILDREN => map(GetChildrenResponse::read(body), MultiResult::GetChildren)?,
                op::GET_DATA => map(GetDataResponse::read(body), MultiResult::GetData)?,
                // Like the Java client, the code comes from the body.
                op::ERROR => map(ErrorResponse::read(body), |e| MultiResult::Error(e.err))?,
                _ => return unknown_type(rest),
            };
            results.push(result);
            rest = next;
        }
    }

    fn write(&self, out: &mut BytesMut) {
        for r in &self.results {
            let err = match r {
                MultiResult::Error(code) => *code,
                _ => 0,
            };
            MultiHeader {
                op_type: r.op_code(),
                done: false,
                err,
            }
            .write(out);
            match r {
                MultiResult::Create(b) => b.write(out),
                MultiResult::Create2(b) => b.write(out),
                MultiResult::Delete | MultiResult::Check => {}
                MultiResult::SetData(b) => b.write(out),
                MultiResult::GetChildren(b) => b.write(out),
                MultiResult::GetData(b) => b.write(out),
                MultiResult::Error(code) => ErrorResponse { err: *code }.write(out),
            }
        }
        END.write(out);
    }
}

field_via_record! {
    MultiRequest => MultiHeader::MIN_SIZE,
    MultiResponse => MultiHeader::MIN_SIZE,
}
