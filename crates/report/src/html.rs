//! The page's fixed parts (inline CSS and script) and HTML escaping.

use std::fmt::Write as _;

/// `s` escaped for HTML text and attribute values (`&`, `<`, `>`, `"`, `'`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `path` percent-encoded for an `href` (every byte but unreserved ones and `/`).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Removes the SVG namespace declaration, which HTML5 does not need for inline SVG.
pub(crate) fn inline_svg(svg: &str) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// The document head: title and styles, and the heading, a link when the
/// caller supplied one (checked by `ReportOptions::check`).
pub(crate) fn head(title: &str, title_link: Option<&str>) -> String {
    let heading = match title_link {
        Some(url) => format!("<a href=\"{}\">{}</a>", escape(url), escape(title)),
        None => escape(title),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{heading}</h1>\n",
        escape(title)
    )
}

/// The end of the document: the table script.
pub(crate) fn tail() -> String {
    format!("<script>{SCRIPT}</script>\n</body>\n</html>\n")
}

const CSS: &str = r#"
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.5em 1em}
.card b{font-size:1.4em;display:block}
.hists{display:flex;flex-wrap:wrap;gap:.5em}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border-bottom:1px solid #eee;padding:.25em .5em;text-align:left}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
th:after{content:" \2195";color:#aaa}
.v-consistent{color:#176b2c}.v-inconsistent{color:#b00020;font-weight:bold}
.v-unverifiable{color:#666}.v-failed{color:#b00020;font-style:italic}
section.rec{border-top:2px solid #ccc;margin-top:1.5em;content-visibility:auto;contain-intrinsic-size:auto 560px}
section.rec figure{margin:.5em 0}section.rec svg,section.rec img{max-width:100%;height:auto}
.legend span{display:inline-block;margin-right:1em}
.sw{display:inline-block;width:1em;height:.8em;vertical-align:middle;margin-right:.3em}
dl.ev{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;font-size:.9em}
dl.ev dt{color:#555}dl.ev dd{margin:0}
.filters{margin:.5em 0}
.pages{margin:.8em 0}.pages a{margin-right:.3em}
"#;

const SCRIPT: &str = r#"
(function(){
var t=document.getElementById('recordings');if(!t)return;
var body=t.tBodies[0],fv=document.getElementById('f-verdict'),fl=document.getElementById('f-label');
function filter(){var v=fv.value,l=fl.value,n=0;
 for(var r of body.rows){var ok=(!v||r.dataset.verdict===v)&&(!l||(' '+r.dataset.labels+' ').indexOf(' '+l+' ')>=0);
  if(r.hidden===ok)r.hidden=!ok;if(ok)n++;}
 document.getElementById('shown').textContent=n;}
fv.onchange=filter;fl.onchange=filter;
var dir={};
Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){th.onclick=function(){
 var d=dir[i]=-(dir[i]||-1),rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=a.cells[i],y=b.cells[i];
  var p=x.dataset.v,q=y.dataset.v;
  if(p!==undefined&&q!==undefined)return d*(parseFloat(p)-parseFloat(q));
  return d*x.textContent.localeCompare(y.textContent);});
 rows.forEach(function(r){body.appendChild(r);});};});
// All rows show at first; filter only when the browser restored a choice (reload, back).
if(fv.value||fl.value)filter();document.body.dataset.ready='1';
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>\"a\"&'b'.wav"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;.wav"
        );
        assert_eq!(encode_path("a b/<c>.wav"), "a%20b/%3Cc%3E.wav");
    }
}
