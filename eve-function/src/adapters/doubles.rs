//! Test doubles of the ports (compiled for tests only).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::memory::locked;
use crate::core::ports::{ChatModel, ModelReply, ModelRequest, PortError};

/// A model double: replies from a script (then echoes), records every request.
#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<Result<ModelReply, PortError>>>,
    requests: Mutex<Vec<ModelRequest>>,
    delay: Duration,
}

impl ScriptedModel {
    pub fn new(script: Vec<Result<ModelReply, PortError>>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            ..Self::default()
        }
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn requests(&self) -> Vec<ModelRequest> {
        locked(&self.requests).clone()
    }

    async fn next(&self, request: &ModelRequest) -> Result<ModelReply, PortError> {
        locked(&self.requests).push(request.clone());
        tokio::time::sleep(self.delay).await;
        let scripted = locked(&self.script).pop_front();
        scripted.unwrap_or_else(|| {
            let last = request
                .messages
                .last()
                .map(|m| m.text.as_str())
                .unwrap_or_default();
            Ok(ModelReply {
                text: format!("You asked: {last}"),
                input_tokens: 10,
                output_tokens: 5,
            })
        })
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn converse(&self, request: &ModelRequest) -> Result<ModelReply, PortError> {
        self.next(request).await
    }

    async fn converse_stream(
        &self,
        request: &ModelRequest,
        deltas: mpsc::Sender<String>,
    ) -> Result<ModelReply, PortError> {
        let reply = self.next(request).await?;
        for word in reply.text.split_inclusive(' ') {
            let _ = deltas.send(word.to_string()).await;
        }
        Ok(reply)
    }
}
