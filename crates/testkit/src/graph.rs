//! Graph notification bodies the tests hand-build (feature `json`).

use serde_json::{json, Value};

/// One `commsNotification` saying that recordOperation `op` of `call`
/// completed; the fields of `data` (an object) are added to, or replace,
/// its `resourceData` (`recordingLocation`, `resultInfo`, ...).
pub fn record_completion(call: &str, op: &str, data: Value) -> Value {
    let mut resource = json!({
        "@odata.type": "#microsoft.graph.recordOperation",
        "id": op,
        "status": "completed",
    });
    if let (Some(into), Value::Object(extra)) = (resource.as_object_mut(), data) {
        into.extend(extra);
    }
    json!({
        "@odata.type": "#microsoft.graph.commsNotification",
        "changeType": "deleted",
        "resourceUrl": format!("/communications/calls/{call}/operations/{op}"),
        "resourceData": resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_operation_and_merges_the_data() {
        let n = record_completion("c1", "o1", json!({"status": "failed", "x": 1}));
        assert_eq!(n["resourceUrl"], "/communications/calls/c1/operations/o1");
        assert_eq!(n["resourceData"]["id"], "o1");
        assert_eq!(n["resourceData"]["status"], "failed");
        assert_eq!(n["resourceData"]["x"], 1);
    }
}
