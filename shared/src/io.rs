//! Reading and writing frames on async streams (QUIC streams in practice).

use crate::frame::{FrameError, check_len, decode, encode_frame};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("stream closed")]
    Closed,
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Reads one frame. `Err(IoError::Closed)` on a clean end of stream between
/// frames; a stream that ends inside a frame is an `Io` error.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(r: &mut R) -> Result<T, IoError> {
    let mut prefix = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut prefix[got..]).await?;
        if n == 0 {
            return Err(if got == 0 {
                IoError::Closed
            } else {
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()
            });
        }
        got += n;
    }
    let len = check_len(prefix)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(decode(&body)?)
}

pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, msg: &T) -> Result<(), IoError> {
    let f = encode_frame(msg)?;
    w.write_all(&f).await?;
    Ok(())
}
