/// What a listing says about someone already subscribed, compared with what the store knows: a
/// value that differs from a known one is a change (an `updated` event with the previous values);
/// values learned for the first time, and `LastSendMsgTime`, which moves with every message, are
/// stored silently. Both engines decide with this.
struct ListedFieldsChange {
    var merged: SubscriberFields
    var previous = SubscriberFields()
    var changed = false

    init(listed: SubscriberFields, known: SubscriberFields) {
        if let old = known.subscribeTime, let new = listed.subscribeTime, old != new { previous.subscribeTime = old; changed = true }
        if let old = known.msgFlag, let new = listed.msgFlag, old != new { previous.msgFlag = old; changed = true }
        if let old = known.customString, let new = listed.customString, old != new { previous.customString = old; changed = true }
        merged = SubscriberFields(
            subscribeTime: listed.subscribeTime ?? known.subscribeTime, msgFlag: listed.msgFlag ?? known.msgFlag,
            customString: listed.customString ?? known.customString, lastSendMsgTime: listed.lastSendMsgTime ?? known.lastSendMsgTime)
    }
}
