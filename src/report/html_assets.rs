//! The HTML report's inline style and script: fixed text, no record value ever goes into
//! either (the script reads the page's escaped attributes), nothing from the network.
//!
//! The script only adds conveniences — the timeline filter box, expanding a template's
//! collapsed lane, sorting a table by a click on its header — so the page is complete
//! without it. A link ending `#filter=TEXT` opens with the timeline filtered.

pub const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:16px 24px;color:#222;max-width:100%}\
table{border-collapse:collapse;margin:8px 0;max-width:100%}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}\
th{background:#f4f4f4;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:' ▲'}\
th[aria-sort=descending]::after{content:' ▼'}\
td:first-child,th:first-child,td.t{text-align:left;overflow-wrap:anywhere}\
h1{font-size:20px;overflow-wrap:anywhere}h2{font-size:16px;margin-top:28px}\
svg{display:block;margin:8px 0;max-width:100%}\
svg text{font-size:11px;font-family:system-ui,sans-serif}\
.legend span{display:inline-block;margin-right:12px;font-size:12px}\
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\
.tlbar{display:flex;gap:12px;align-items:center;margin:6px 0}\
.tlbar input{font:inherit;padding:2px 6px;width:18em}\
.tl{max-height:70vh;overflow:auto;border:1px solid #ddd}\
.lane{content-visibility:auto;contain-intrinsic-size:auto 18px;display:flex;align-items:center;height:18px;border-bottom:1px solid #f3f3f3}\
.lane .lbl{flex:0 0 22%;max-width:22%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;\
font-size:12px;padding:0 6px;background:none;border:0;text-align:left;font-family:inherit;color:inherit}\
.lane .lbl.crit{font-weight:bold}button.lbl{cursor:pointer}\
.track{position:relative;flex:1 1 auto;height:100%}\
.track i{position:absolute;top:3px;height:12px;min-width:1px}\
.lane.sum .track i{opacity:.55}\
.lane.axis{position:sticky;top:0;background:#fff;z-index:1;height:20px;border-bottom:1px solid #ccc}\
.lane.axis b{position:absolute;top:3px;font-size:11px;font-weight:normal;transform:translateX(-50%)}\
.inst .lbl{padding-left:18px}\
.hb{display:flex;align-items:center;height:18px;font-size:12px}\
.hb .lbl{flex:0 0 22%;max-width:22%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;padding-right:6px}\
.hb .bars{flex:1 1 auto;display:flex;align-items:center;height:12px}\
.hb .bars span{height:12px;display:inline-block}.hb .v{flex:0 0 auto;padding-left:6px}\
.c-q{background:#c9a227}.c-r{background:#4a78c2}.c-cpu{background:#7a4ac2}\
tr.reg td{background:#fde2e1}tr.new td{background:#e4f4e8}tr.removed td{background:#eee;color:#666}\
.chart{width:100%;height:auto}";

pub const SCRIPT: &str = r#"(function(){
"use strict";
function each(sel,f,root){Array.prototype.forEach.call((root||document).querySelectorAll(sel),f);}
function toggle(g,open){var inst=g.querySelector('.inst');var b=g.querySelector('button.lbl');
 if(!inst||!b)return;inst.hidden=!open;b.setAttribute('aria-expanded',open?'true':'false');
 var a=b.querySelector('.arr');if(a)a.textContent=open?'\u25BE':'\u25B8';}
each('.grp',function(g){var b=g.querySelector('button.lbl');if(b)b.addEventListener('click',function(){
 toggle(g,b.getAttribute('aria-expanded')!=='true');});});
var box=document.getElementById('tl-filter');var shown=document.getElementById('tl-shown');
if(box){box.addEventListener('input',function(){var q=box.value.trim().toLowerCase();var n=0;
 each('#timeline .tlbody > .lane',function(l){var m=!q||l.getAttribute('data-id').indexOf(q)>=0;
  l.hidden=!m;if(m)n++;});
 each('#timeline .grp',function(g){var any=false;var own=!q||g.getAttribute('data-id').indexOf(q)>=0;
  each('.inst .lane',function(l){var m=own||l.getAttribute('data-id').indexOf(q)>=0;l.hidden=!m;if(m){any=true;n++;}},g);
  g.hidden=!any&&!own;toggle(g,!!q&&any&&!own);});
 if(shown)shown.textContent=q?n+' shown':'';});
 var hm=/^#filter=(.*)$/.exec(location.hash);
 if(hm){box.value=decodeURIComponent(hm[1]);box.dispatchEvent(new Event('input'));}}
function key(td){var v=td.getAttribute('data-v');if(v!==null&&v!=='')return parseFloat(v);
 var t=td.textContent.trim();var m=t.match(/^(-?[0-9.]+)\s*(ms|s|B|KiB|MiB|GiB|TiB|%)?$/);
 if(m){var u={ms:1,s:1000,B:1,KiB:1024,MiB:1048576,GiB:1073741824,TiB:1099511627776,'%':1};
  return parseFloat(m[1])*(m[2]?u[m[2]]:1);}
 m=t.match(/^([0-9]+)m([0-9]+)s$/);if(m)return (60*m[1]+ +m[2])*1000;
 m=t.match(/^([0-9]+)h([0-9]+)m$/);if(m)return (3600*m[1]+60*m[2])*1000;
 return t.toLowerCase();}
function cmp(a,b){if(typeof a==='number'&&typeof b==='number')return a-b;
 if(typeof a==='number')return -1;if(typeof b==='number')return 1;return a<b?-1:a>b?1:0;}
each('table',function(t){var head=t.rows[0];if(!head)return;
 Array.prototype.forEach.call(head.cells,function(th,i){th.addEventListener('click',function(){
  var asc=th.getAttribute('aria-sort')!=='ascending';
  Array.prototype.forEach.call(head.cells,function(c){c.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',asc?'ascending':'descending');
  var rows=Array.prototype.slice.call(t.rows,1);
  rows.sort(function(x,y){var r=cmp(key(x.cells[i]||x),key(y.cells[i]||y));return asc?r:-r;});
  var body=rows.length?rows[0].parentNode:t;rows.forEach(function(r){body.appendChild(r);});});});});
})();"#;
