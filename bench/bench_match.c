/*
 * bench_match.c - watch-list compile cost and scan throughput of the
 * matcher, against a bare hs_scan of the same databases.
 *
 * Everything is generated from a fixed seed: a normalized Chinese corpus of
 * tender notices (titles, buyers, agents, budgets, product lines with model
 * numbers, boilerplate) with watch-list names planted in it, a realistic
 * watch list (universities, labs, companies, clouds, chips, intermediaries,
 * places, model-number regexes) and generated organization names
 * (province/city + core name + 有限公司/大学/研究院/实验室 ...) plus ASCII
 * model names.
 *
 * Measured:
 *   1. cold compile of 50,000 literals + 200 regexes (cache off);
 *   2. scan stage, single thread, realistic list + 10,000 generated names:
 *      tdx_match_scan (hits with boundary rule, expansion, sorting) against
 *      tdx_match_count_raw (hs_scan of the same databases, counting
 *      callback), alternated run by run, per document;
 *   3. compile time, database size and scan rate at 100, 1k, 10k, 50k
 *      patterns.
 * Each figure: one warm-up, then several runs; median and min reported, and
 * a checksum of the hits so that no work can be optimized away.
 *
 *   bench_match [--quick] [--mb N] [--runs N] [--part 1|2|3] [--list FILE]
 *               [--dump-corpus FILE]
 *
 * --list FILE replaces the built-in realistic rows by a watch list (the
 * bundled one, say); the generated names are still added.  --dump-corpus
 * FILE writes the corpus, one document per line, for peers (rg, grep) and
 * exits.
 */
#include "benchutil.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/hash.h"
#include "match/match.h"
#include "normalize/normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 20240611;

static uint64_t rnd(void)
{
    return bu_rand(&rng_state);
}

static size_t pick(size_t n)
{
    return (size_t)(rnd() % n);
}

#define PICK(a) (a)[pick(sizeof(a) / sizeof((a)[0]))]

static double now_s(void)
{
    return bu_clock(CLOCK_MONOTONIC);
}

/*
 * Compile time on a shared machine: wall time counts the waits for a core,
 * so the CPU time of both compiling threads is reported next to it (on an
 * idle two-core machine the wall time lies between half of it and all).
 */
static double process_cpu_s(void)
{
    return bu_clock(CLOCK_PROCESS_CPUTIME_ID);
}

/*
 * Scan timings use the thread's CPU time: on a machine shared with other
 * jobs, wall time mostly measures how long the thread waited for a core.
 */
static double cpu_s(void)
{
    return bu_clock(CLOCK_THREAD_CPUTIME_ID);
}

static void die(const char *what, const tdx_err *err)
{
    fprintf(stderr, "bench_match: %s: %s\n", what, err && err->msg[0] ? err->msg : "failed");
    exit(1);
}

static void put(tdx_buf *b, const char *s)
{
    if (tdx_buf_puts(b, s) != 0)
        die("out of memory", NULL);
}

/* ---- names ------------------------------------------------------------------- */

static const char *const provinces[] = {
    "北京", "上海", "天津", "重庆", "河北", "山西", "辽宁",   "吉林", "黑龙江", "江苏",
    "浙江", "安徽", "福建", "江西", "山东", "河南", "湖北",   "湖南", "广东",   "海南",
    "四川", "贵州", "云南", "陕西", "甘肃", "青海", "内蒙古", "广西", "宁夏",   "新疆"};
static const char *const cities[] = {
    "深圳", "广州", "杭州", "南京", "苏州",   "武汉", "成都",   "西安", "合肥", "长沙",
    "郑州", "济南", "青岛", "厦门", "福州",   "宁波", "无锡",   "东莞", "佛山", "昆明",
    "贵阳", "南宁", "沈阳", "大连", "哈尔滨", "长春", "石家庄", "太原", "南昌", "兰州",
    "珠海", "中山", "惠州", "温州", "绍兴",   "常州", "徐州",   "烟台", "洛阳", "绵阳"};
/* Characters of company and institute core names (all 3-byte UTF-8). */
static const char core_chars[] = "华科信达通电智创联数云恒泰安盛新天宇博瑞中宏远航海星光明正德兴利"
                                 "源鑫诚睿芯锐晟图灵深蓝微讯维思腾飞跃鼎峰汇众凯旭东方金银佳和永"
                                 "捷迅合力成嘉康宁晶辰元启航易";
static const char *const suffixes[] = {"有限公司",
                                       "科技有限公司",
                                       "信息技术有限公司",
                                       "电子科技有限公司",
                                       "股份有限公司",
                                       "集团有限公司",
                                       "大学",
                                       "学院",
                                       "研究院",
                                       "研究所",
                                       "实验室",
                                       "重点实验室",
                                       "技术中心",
                                       "工程技术研究中心",
                                       "招标代理有限公司",
                                       "咨询有限公司",
                                       "软件有限公司",
                                       "网络科技有限公司",
                                       "智能科技有限公司",
                                       "计算技术研究所"};

static void core_name(tdx_buf *b)
{
    size_t n = 2 + pick(3), nchars = (sizeof core_chars - 1) / 3;
    for (size_t i = 0; i < n; i++)
        if (tdx_buf_append(b, core_chars + 3 * pick(nchars), 3) != 0)
            die("out of memory", NULL);
}

/* province/city + core + suffix, e.g. 深圳华芯达智能科技有限公司 */
static void org_name(tdx_buf *b)
{
    switch (pick(4)) {
    case 0:
        put(b, PICK(provinces));
        put(b, pick(2) ? "省" : "");
        break;
    case 1:
    case 2:
        put(b, PICK(cities));
        put(b, pick(3) == 0 ? "市" : "");
        break;
    default:
        break;
    }
    core_name(b);
    put(b, PICK(suffixes));
}

/* ASCII model names: a100, h20, mlu370, x9000k ... */
static void model_name(tdx_buf *b)
{
    size_t nl = 1 + pick(3) / 2, nd = 2 + pick(3);
    for (size_t i = 0; i < nl; i++)
        tdx_buf_putc(b, (uint8_t)('a' + pick(26)));
    tdx_buf_putc(b, (uint8_t)('1' + pick(9)));
    for (size_t i = 1; i < nd; i++)
        tdx_buf_putc(b, (uint8_t)('0' + pick(10)));
    if (pick(4) == 0)
        tdx_buf_putc(b, (uint8_t)('a' + pick(26)));
}

/* The realistic part of the watch list: entity, category, pattern. */
static const char *const real_list[][3] = {
    {"清华大学", "university", "清华大学"},
    {"清华大学", "university", "tsinghua university"},
    {"北京大学", "university", "北京大学"},
    {"北京大学", "university", "peking university"},
    {"浙江大学", "university", "浙江大学"},
    {"上海交通大学", "university", "上海交通大学"},
    {"复旦大学", "university", "复旦大学"},
    {"深圳大学", "university", "深圳大学"},
    {"深圳大学", "university", "shenzhen university"},
    {"深圳大学", "university", "szu"},
    {"南方科技大学", "university", "南方科技大学"},
    {"南方科技大学", "university", "sustech"},
    {"哈尔滨工业大学", "university", "哈尔滨工业大学"},
    {"哈尔滨工业大学", "university", "哈工大"},
    {"中国科学技术大学", "university", "中国科学技术大学"},
    {"中国科学技术大学", "university", "中国科大"},
    {"中山大学", "university", "中山大学"},
    {"华中科技大学", "university", "华中科技大学"},
    {"西安交通大学", "university", "西安交通大学"},
    {"国防科技大学", "university", "国防科技大学"},
    {"北京航空航天大学", "university", "北京航空航天大学"},
    {"北京航空航天大学", "university", "北航"},
    {"电子科技大学", "university", "电子科技大学"},
    {"东南大学", "university", "东南大学"},
    {"武汉大学", "university", "武汉大学"},
    {"南京大学", "university", "南京大学"},
    {"之江实验室", "lab", "之江实验室"},
    {"鹏城实验室", "lab", "鹏城实验室"},
    {"鹏城实验室", "lab", "peng cheng laboratory"},
    {"上海人工智能实验室", "lab", "上海人工智能实验室"},
    {"北京智源人工智能研究院", "lab", "北京智源人工智能研究院"},
    {"北京智源人工智能研究院", "lab", "智源研究院"},
    {"中国科学院计算技术研究所", "lab", "中国科学院计算技术研究所"},
    {"中国科学院计算技术研究所", "lab", "中科院计算所"},
    {"中国科学院自动化研究所", "lab", "中国科学院自动化研究所"},
    {"国家超级计算深圳中心", "lab", "国家超级计算深圳中心"},
    {"国家超级计算无锡中心", "lab", "国家超级计算无锡中心"},
    {"华为", "company", "华为技术有限公司"},
    {"华为", "company", "华为"},
    {"华为", "company", "huawei"},
    {"浪潮", "company", "浪潮电子信息产业股份有限公司"},
    {"浪潮", "company", "浪潮"},
    {"中科曙光", "company", "曙光信息产业股份有限公司"},
    {"中科曙光", "company", "中科曙光"},
    {"新华三", "company", "新华三技术有限公司"},
    {"新华三", "company", "h3c"},
    {"联想", "company", "联想(北京)有限公司"},
    {"联想", "company", "lenovo"},
    {"中兴通讯", "company", "中兴通讯股份有限公司"},
    {"寒武纪", "company", "中科寒武纪科技股份有限公司"},
    {"寒武纪", "company", "寒武纪"},
    {"海光信息", "company", "海光信息技术股份有限公司"},
    {"壁仞科技", "company", "壁仞科技"},
    {"摩尔线程", "company", "摩尔线程"},
    {"燧原科技", "company", "燧原科技"},
    {"天数智芯", "company", "天数智芯"},
    {"沐曦", "company", "沐曦集成电路"},
    {"英伟达", "company", "英伟达"},
    {"英伟达", "company", "nvidia"},
    {"超微", "company", "supermicro"},
    {"戴尔", "company", "戴尔"},
    {"戴尔", "company", "dell"},
    {"阿里云", "cloud", "阿里云"},
    {"阿里云", "cloud", "alibaba cloud"},
    {"阿里云", "cloud", "阿里云计算有限公司"},
    {"腾讯云", "cloud", "腾讯云"},
    {"腾讯云", "cloud", "腾讯云计算(北京)有限责任公司"},
    {"华为云", "cloud", "华为云"},
    {"百度智能云", "cloud", "百度智能云"},
    {"天翼云", "cloud", "天翼云"},
    {"移动云", "cloud", "移动云"},
    {"京东云", "cloud", "京东云"},
    {"AWS", "cloud", "amazon web services"},
    {"AWS", "cloud", "aws"},
    {"Azure", "cloud", "azure"},
    {"NVIDIA A100", "chip", "a100"},
    {"NVIDIA A800", "chip", "a800"},
    {"NVIDIA H100", "chip", "h100"},
    {"NVIDIA H800", "chip", "h800"},
    {"NVIDIA H20", "chip", "h20"},
    {"NVIDIA L40S", "chip", "l40s"},
    {"NVIDIA V100", "chip", "v100"},
    {"NVIDIA RTX 4090", "chip", "rtx 4090"},
    {"NVIDIA RTX 4090", "chip", "rtx4090"},
    {"昇腾910B", "chip", "昇腾910b"},
    {"昇腾910B", "chip", "ascend 910b"},
    {"昇腾910", "chip", "昇腾910"},
    {"昇腾310", "chip", "昇腾310"},
    {"海光DCU", "chip", "海光dcu"},
    {"寒武纪MLU370", "chip", "mlu370"},
    {"鲲鹏920", "chip", "鲲鹏920"},
    {"中国远东国际招标", "intermediary", "中国远东国际招标有限公司"},
    {"中技国际招标", "intermediary", "中技国际招标有限公司"},
    {"中化商务", "intermediary", "中化商务有限公司"},
    {"中招国际招标", "intermediary", "中招国际招标有限公司"},
    {"深圳市政府采购中心", "intermediary", "深圳市政府采购中心"},
    {"广东省政府采购中心", "intermediary", "广东省政府采购中心"},
    {"中国政府采购网", "intermediary", "中国政府采购网"},
    {"雄安新区", "place", "雄安新区"},
    {"深圳市", "place", "深圳市"},
    {"北京市", "place", "北京市"},
    {"上海市", "place", "上海市"},
    {"合肥市", "place", "合肥市"},
    {"贵安新区", "place", "贵安新区"},
    {"GPU model", "chip", "/[ahlv]\\d{2,3}[a-z]?/"},
    {"GPU model", "chip", "/(?:nvidia|英伟达)\\s?[a-z]{1,3}\\d{2,4}/"},
    {"Ascend", "chip", "/昇腾\\d{3}[a-z]?/"},
    {"RTX", "chip", "/rtx\\s?\\d{4}(?:\\s?ti)?/"},
    {"MLU", "chip", "/mlu\\d{3}/"},
    {"server model", "product", "/[a-z]{2}\\d{4}[a-z]\\d/"},
    {"compute card", "product", "/\\d{2,3}gb(?:显存|内存)/"},
    {"tender code", "code", "/szcg\\d{4}-\\d{4,6}/"},
};
#define NREAL (sizeof real_list / sizeof real_list[0])

/* ---- the corpus ---------------------------------------------------------------- */

static const char *const products[] = {"服务器", "gpu计算卡",  "交换机",     "存储设备",
                                       "工作站", "推理服务器", "训练服务器", "一体机",
                                       "加速卡", "云主机",     "超算节点",   "网络安全设备"};
static const char *const other_models[] = {"r750",      "5288v5",  "nf5468m6",  "x660",
                                           "g5500",     "sr650",   "poweredge", "kunlun",
                                           "atlas 800", "e5-2680", "epyc 7763", "xeon 8358"};
static const char *const filler[] = {"投标人须具备独立承担民事责任的能力",
                                     "本项目不接受联合体投标",
                                     "供应商应在规定时间内提交响应文件",
                                     "评标办法采用综合评分法",
                                     "请各供应商登录电子交易平台下载招标文件",
                                     "投标文件递交截止时间及开标时间另行通知",
                                     "本公告期限为自发布之日起五个工作日",
                                     "采购项目需要落实的政府采购政策:节能产品、环境标志产品",
                                     "对本次招标提出询问,请按以下方式联系",
                                     "中标结果公示期满后发出中标通知书",
                                     "合同履行期限:自合同签订之日起十二个月",
                                     "质疑函应当在法定质疑期内一次性提出",
                                     "供应商须提供近三年内类似项目业绩证明材料",
                                     "本项目预算已落实,资金来源为财政性资金",
                                     "技术参数响应表详见招标文件第三章",
                                     "售后服务要求:提供三年原厂质保及七乘二十四小时技术支持"};
static const char *const kinds[] = {"招标公告",       "中标公告",         "成交结果公告",
                                    "竞争性磋商公告", "单一来源采购公示", "合同公告",
                                    "更正公告"};
static const char *const projects[] = {"高性能计算平台建设项目", "人工智能算力中心采购项目",
                                       "数据中心扩容项目",       "智慧校园信息化项目",
                                       "科研仪器设备采购项目",   "云计算服务采购项目",
                                       "大模型训练集群建设项目", "网络设备更新项目"};

typedef struct names {
    tdx_buf text; /* NUL-separated names */
    size_t *off;
    size_t n, cap;
} names;

static void names_add(names *ns, const char *s, size_t len)
{
    if (ns->n == ns->cap) {
        ns->cap = ns->cap ? ns->cap * 2 : 1024;
        ns->off = realloc(ns->off, ns->cap * sizeof *ns->off);
        if (ns->off == NULL)
            die("out of memory", NULL);
    }
    ns->off[ns->n++] = ns->text.len;
    if (tdx_buf_append(&ns->text, s, len) != 0 || tdx_buf_putc(&ns->text, 0) != 0)
        die("out of memory", NULL);
}

static const char *names_get(const names *ns, size_t i)
{
    return (const char *)ns->text.p + ns->off[i];
}

/* A name for a planted mention: listed (real or generated) or unlisted. */
static const char *some_org(const names *gen, tdx_buf *tmp)
{
    size_t r = pick(10);
    if (r < 3) {
        const char *p;
        do
            p = real_list[pick(NREAL)][2];
        while (p[0] == '/');
        return p;
    }
    if (r < 6 && gen->n)
        return names_get(gen, pick(gen->n));
    tdx_buf_reset(tmp);
    org_name(tmp);
    return (const char *)tmp->p;
}

static void digits(tdx_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tdx_buf_putc(b, (uint8_t)('0' + pick(10)));
}

/* One notice, about doc_bytes long, already in normalized form. */
static void gen_doc(tdx_buf *b, const names *gen, size_t doc_bytes)
{
    tdx_buf tmp = TDX_BUF_INIT;
    size_t start = b->len;
    put(b, some_org(gen, &tmp));
    put(b, PICK(projects));
    put(b, PICK(kinds));
    put(b, "。项目编号:szcg");
    digits(b, 4);
    put(b, "-");
    digits(b, 5);
    put(b, "。");
    while (b->len - start < doc_bytes) {
        switch (pick(9)) {
        case 0:
            put(b, "采购人:");
            put(b, some_org(gen, &tmp));
            put(b, ",地址:");
            put(b, PICK(cities));
            put(b, "市");
            core_name(b);
            put(b, "路");
            digits(b, 3);
            put(b, "号。");
            break;
        case 1:
            put(b, "采购代理机构:");
            put(b, some_org(gen, &tmp));
            put(b, ",联系电话:0755-");
            digits(b, 8);
            put(b, "。");
            break;
        case 2:
            put(b, "预算金额:");
            digits(b, 1 + pick(5));
            put(b, ".");
            digits(b, 2);
            put(b, "万元。");
            break;
        case 3: {
            put(b, "采购需求:");
            put(b, PICK(products));
            digits(b, 1 + pick(2));
            put(b, "台,规格型号:");
            size_t r = pick(4);
            if (r == 0) {
                put(b, "nvidia ");
                put(b, PICK(((const char *const[]){"a100", "h100", "h800", "h20", "a800", "l40s",
                                                   "v100", "rtx 4090"})));
            } else if (r == 1) {
                put(b, PICK(((const char *const[]){"昇腾910b", "昇腾310", "mlu370", "海光dcu",
                                                   "鲲鹏920"})));
            } else if (r == 2 && gen->n) {
                put(b, names_get(gen, pick(gen->n))); /* maybe a generated model */
            } else {
                put(b, PICK(other_models));
            }
            put(b, ",显存");
            put(b, PICK(((const char *const[]){"24", "40", "48", "80", "96"})));
            put(b, "gb。");
            break;
        }
        case 4:
            put(b, "中标供应商:");
            put(b, some_org(gen, &tmp));
            put(b, ",中标金额:");
            digits(b, 5 + pick(4));
            put(b, "元。");
            break;
        default:
            put(b, PICK(filler));
            put(b, pick(3) ? "。" : ",");
            break;
        }
    }
    tdx_buf_free(&tmp);
}

typedef struct corpus {
    tdx_buf text;
    size_t *doc_off; /* ndocs + 1 offsets */
    size_t ndocs;
} corpus;

static void gen_corpus(corpus *c, const names *gen, size_t bytes)
{
    size_t cap = bytes / 1000 + 16;
    c->doc_off = malloc(cap * sizeof *c->doc_off);
    c->ndocs = 0;
    while (c->text.len < bytes) {
        if (c->ndocs + 2 > cap) {
            cap *= 2;
            c->doc_off = realloc(c->doc_off, cap * sizeof *c->doc_off);
        }
        c->doc_off[c->ndocs++] = c->text.len;
        gen_doc(&c->text, gen, 1000 + pick(7000));
    }
    c->doc_off[c->ndocs] = c->text.len;
}

/* ---- watch lists ------------------------------------------------------------- */

/* n distinct generated names: CJK organizations with ~5% ASCII model names. */
static void gen_names(names *ns, size_t n, uint64_t seed)
{
    uint64_t saved = rng_state;
    rng_state = seed;
    size_t cap = 1;
    while (cap < n * 2)
        cap *= 2;
    uint64_t *set = calloc(cap, sizeof *set);
    tdx_buf b = TDX_BUF_INIT;
    while (ns->n < n) {
        tdx_buf_reset(&b);
        if (pick(20) == 0)
            model_name(&b);
        else
            org_name(&b);
        uint64_t h = tdx_hash64(b.p, b.len) | 1;
        size_t j = h & (cap - 1);
        while (set[j] && set[j] != h)
            j = (j + 1) & (cap - 1);
        if (set[j])
            continue;
        set[j] = h;
        names_add(ns, (const char *)b.p, b.len);
    }
    free(set);
    tdx_buf_free(&b);
    rng_state = saved;
}

/*
 * Watch-list text: the first nreal literal rows of the realistic list, its
 * regexes when real_rx, ngen generated names, nregex generated regexes.
 */
static const char *user_list; /* --list FILE: used instead of the realistic rows */

static void make_list(tdx_buf *out, size_t nreal, int real_rx, const names *gen, size_t ngen,
                      size_t nregex)
{
    tdx_buf_reset(out);
    if (user_list && nreal) {
        FILE *f = fopen(user_list, "rb");
        if (f == NULL)
            die(user_list, NULL);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            tdx_buf_append(out, chunk, n);
        fclose(f);
        if (out->len && out->p[out->len - 1] != '\n')
            tdx_buf_putc(out, '\n');
        nreal = 0;
        real_rx = 0;
    }
    for (size_t i = 0, k = 0; i < NREAL; i++) {
        int rx = real_list[i][2][0] == '/';
        if (rx ? real_rx : k++ < nreal)
            tdx_buf_printf(out, "%s\t%s\t%s\n", real_list[i][0], real_list[i][1], real_list[i][2]);
    }
    for (size_t i = 0; i < ngen && i < gen->n; i++) {
        const char *s = names_get(gen, i);
        tdx_buf_printf(out, "%s\t%s\t%s\n", s, (s[0] & 0x80) ? "organization" : "model", s);
    }
    /* Generated regexes: model-number families and CJK name shapes. */
    uint64_t saved = rng_state;
    rng_state = 77;
    for (size_t i = 0; i < nregex; i++) {
        if (i % 2 == 0)
            tdx_buf_printf(out, "rx%zu\tmodel\t/%c%c\\d{%zu,%zu}[a-z]?/\n", i,
                           (char)('a' + pick(26)), (char)('a' + pick(26)), 2 + pick(2),
                           4 + pick(2));
        else
            tdx_buf_printf(out, "rx%zu\torganization\t/%s.{1,6}%s/\n", i, PICK(cities),
                           PICK(suffixes));
    }
    rng_state = saved;
}

static size_t real_counts(size_t *out_rx)
{
    size_t lit = 0, rx = 0;
    for (size_t i = 0; i < NREAL; i++)
        real_list[i][2][0] == '/' ? rx++ : lit++;
    *out_rx = rx;
    return lit;
}

/* ---- measuring --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double min_of(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

typedef struct scan_result {
    double med_s, min_s;           /* tdx_match_scan */
    double bare_med_s, bare_min_s; /* tdx_match_count_raw */
    uint64_t checksum;
    size_t hits, raw;
} scan_result;

static uint64_t scan_once(const tdx_matcher *m, tdx_match_scratch *s, const corpus *c, tdx_hits *h,
                          size_t *out_hits)
{
    uint64_t sum = 0;
    size_t n = 0;
    tdx_err err = {0};
    for (size_t d = 0; d < c->ndocs; d++) {
        const uint8_t *p = c->text.p + c->doc_off[d];
        size_t len = c->doc_off[d + 1] - c->doc_off[d];
        if (tdx_match_scan(m, s, p, len, h, &err) != 0)
            die("scan", &err);
        n += h->n;
        for (size_t i = 0; i < h->n; i++)
            sum = sum * 31 + h->v[i].pattern * 7 + h->v[i].start * 3 + h->v[i].end;
    }
    *out_hits = n;
    return sum;
}

static size_t bare_once(const tdx_matcher *m, tdx_match_scratch *s, const corpus *c)
{
    size_t n = 0, k;
    tdx_err err = {0};
    for (size_t d = 0; d < c->ndocs; d++) {
        const uint8_t *p = c->text.p + c->doc_off[d];
        size_t len = c->doc_off[d + 1] - c->doc_off[d];
        if (tdx_match_count_raw(m, s, p, len, &k, &err) != 0)
            die("scan", &err);
        n += k;
    }
    return n;
}

/* Alternate matcher and bare runs so that both see the same machine. */
static void measure_scan(const tdx_matcher *m, const corpus *c, int runs, scan_result *r)
{
    tdx_match_scratch *s = NULL;
    tdx_err err = {0};
    if (tdx_match_scratch_create(m, &s, &err) != 0)
        die("scratch", &err);
    tdx_hits h = {0};
    double t[64], tb[64];
    r->checksum = scan_once(m, s, c, &h, &r->hits); /* warm-up */
    r->raw = bare_once(m, s, c);
    for (int i = 0; i < runs; i++) {
        double t0 = cpu_s();
        size_t n;
        if (scan_once(m, s, c, &h, &n) != r->checksum || n != r->hits)
            die("scan results differ between runs", NULL);
        double t1 = cpu_s();
        if (bare_once(m, s, c) != r->raw)
            die("bare results differ between runs", NULL);
        double t2 = cpu_s();
        t[i] = t1 - t0;
        tb[i] = t2 - t1;
    }
    r->min_s = min_of(t, (size_t)runs);
    r->bare_min_s = min_of(tb, (size_t)runs);
    r->med_s = median(t, (size_t)runs);
    r->bare_med_s = median(tb, (size_t)runs);
    tdx_hits_free(&h);
    tdx_match_scratch_free(s);
}

typedef struct built {
    tdx_watchlist *wl;
    tdx_matcher *m;
    double parse_s;
    double compile_cpu_s; /* CPU time of all threads of the process */
    tdx_match_info info;
} built;

static void build(const tdx_norm *norm, const tdx_buf *list, const char *cache_dir, built *b)
{
    tdx_err err = {0};
    double t0 = now_s();
    if (tdx_watchlist_parse("bench.tsv", (const char *)list->p, list->len, norm, &b->wl, &err))
        die("parse", &err);
    b->parse_s = now_s() - t0;
    tdx_match_opts opts = {.cache_dir = cache_dir};
    double c0 = process_cpu_s();
    if (tdx_match_compile(b->wl, &opts, &b->m, &err) != 0)
        die("compile", &err);
    b->compile_cpu_s = process_cpu_s() - c0;
    tdx_match_get_info(b->m, &b->info);
}

static void unbuild(built *b)
{
    tdx_match_free(b->m);
    tdx_watchlist_free(b->wl);
}

/* 1. Cold compile of 50,000 literals + 200 regexes. */
static void cold_compile(const tdx_norm *norm, const names *gen, tdx_buf *list)
{
    built b;
    make_list(list, 0, 0, gen, 50000, 200);
    build(norm, list, "", &b);
    printf("\ncold compile, 50000 literals + 200 regexes: parse+normalize %.2f s, compile "
           "%.2f s wall (%.2f s CPU, 2 threads), %zu databases, %.1f MiB\n",
           b.parse_s, b.info.compile_ms / 1e3, b.compile_cpu_s, b.info.ndatabases,
           (double)b.info.db_bytes / 1048576.0);
    unbuild(&b);
}

static void print_scan(const char *what, const corpus *c, int runs, const scan_result *r)
{
    double mbytes = (double)c->text.len / 1e6;
    printf("  %s, %d runs: tdx_match_scan %.0f MB/s median, %.0f best; bare hs_scan %.0f MB/s "
           "median, %.0f best; ratio %.3f median, %.3f best\n",
           what, runs, mbytes / r->med_s, mbytes / r->min_s, mbytes / r->bare_med_s,
           mbytes / r->bare_min_s, r->med_s / r->bare_med_s, r->min_s / r->bare_min_s);
    printf("    %zu hits (%.0f per MB), %zu raw matches, checksum %016llx\n", r->hits,
           (double)r->hits / mbytes, r->raw, (unsigned long long)r->checksum);
}

/* 2. The scan stage: realistic list + 10,000 generated names. */
static void scan_stage(const tdx_norm *norm, const names *gen, const corpus *c, tdx_buf *list,
                       const char *cache_dir, int runs)
{
    built b;
    size_t nreal_rx, nreal_lit = real_counts(&nreal_rx);
    make_list(list, nreal_lit, 1, gen, 10000, 0);
    build(norm, list, cache_dir, &b);
    double cold_ms = b.info.compile_ms;
    unbuild(&b);
    build(norm, list, cache_dir, &b);
    printf("\n%s + 10000 generated names: %zu patterns, %zu regexes\n",
           user_list ? user_list : "built-in realistic list", tdx_watchlist_npatterns(b.wl),
           b.info.nregexes);
    printf("  compile %.1f ms cold, %.1f ms from cache (from_cache=%d), %.2f MiB\n", cold_ms,
           b.info.compile_ms, b.info.from_cache, (double)b.info.db_bytes / 1048576.0);
    scan_result r;
    measure_scan(b.m, c, runs, &r);
    print_scan("scan, 1 thread, CPU time", c, runs, &r);
    unbuild(&b);

    if (user_list)
        return;
    make_list(list, nreal_lit, 0, gen, 10000, 0);
    build(norm, list, "", &b);
    measure_scan(b.m, c, runs, &r);
    print_scan("same without its regexes", c, runs, &r);
    unbuild(&b);
}

/* 3. Compile and scan at 100, 1k, 10k, 50k patterns. */
static void scaling(const tdx_norm *norm, const names *gen, const corpus *c, tdx_buf *list,
                    int runs)
{
    built b;
    scan_result r;
    double mbytes = (double)c->text.len / 1e6;
    size_t nreal_rx, nreal_lit = real_counts(&nreal_rx);
    printf("\n%8s  %10s  %10s  %10s  %10s  %12s  %12s  %7s  %10s\n", "patterns", "parse ms",
           "compile ms", "(CPU ms)", "db MiB", "scan MB/s", "bare MB/s", "ratio", "hits/MB");
    const char *saved = user_list; /* the table is about the built-in rows */
    user_list = NULL;
    static const size_t scales[] = {100, 1000, 10000, 50000};
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        size_t n = scales[i];
        size_t nlit = n - nreal_rx, nr = nlit < nreal_lit ? nlit : nreal_lit;
        make_list(list, nr, 1, gen, nlit - nr, 0);
        build(norm, list, "", &b);
        measure_scan(b.m, c, runs, &r);
        printf("%8zu  %10.1f  %10.1f  %10.1f  %10.2f  %12.0f  %12.0f  %7.3f  %10.0f\n",
               tdx_watchlist_npatterns(b.wl), b.parse_s * 1e3, b.info.compile_ms,
               b.compile_cpu_s * 1e3, (double)b.info.db_bytes / 1048576.0, mbytes / r.med_s,
               mbytes / r.bare_med_s, r.med_s / r.bare_med_s, (double)r.hits / mbytes);
        unbuild(&b);
    }
    user_list = saved;
}

int main(int argc, char **argv)
{
    int quick = 0, runs = 7, part = 0;
    const char *dump = NULL;
    size_t mb = 64;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = (size_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--part") == 0 && i + 1 < argc)
            part = atoi(argv[++i]);
        else if (strcmp(argv[i], "--list") == 0 && i + 1 < argc)
            user_list = argv[++i];
        else if (strcmp(argv[i], "--dump-corpus") == 0 && i + 1 < argc)
            dump = argv[++i];
        else {
            fprintf(
                stderr,
                "usage: bench_match [--quick] [--mb N] [--runs N] [--part 1|2|3] [--list FILE]\n"
                "                   [--dump-corpus FILE]\n");
            return 2;
        }
    }
    if (quick) {
        mb = mb > 8 ? 8 : mb;
        runs = runs > 3 ? 3 : runs;
    }
    runs = runs < 1 ? 1 : runs > 64 ? 64 : runs;

    tdx_err err = {0};
    tdx_norm *norm = NULL;
    if (tdx_norm_create(TDX_NORM_ALL, &norm, &err) != 0)
        die("normalizer", &err);

    names gen = {0};
    gen_names(&gen, 50000, 4242);
    corpus c = {0};
    double t0 = now_s();
    gen_corpus(&c, &gen, mb << 20);
    printf("corpus: %.1f MB normalized text, %zu documents (generated in %.1f s)\n",
           (double)c.text.len / 1e6, c.ndocs, now_s() - t0);

    if (dump) {
        FILE *f = fopen(dump, "wb");
        for (size_t d = 0; f && d < c.ndocs; d++) {
            fwrite(c.text.p + c.doc_off[d], 1, c.doc_off[d + 1] - c.doc_off[d], f);
            fputc('\n', f);
        }
        if (f == NULL || fclose(f) != 0)
            die(dump, NULL);
        return 0;
    }

    tdx_buf list = TDX_BUF_INIT;
    char cache_dir[] = "/tmp/bench_match.XXXXXX";
    if (mkdtemp(cache_dir) == NULL)
        die("mkdtemp", NULL);
    if (part == 0 || part == 1)
        cold_compile(norm, &gen, &list);
    if (part == 0 || part == 2)
        scan_stage(norm, &gen, &c, &list, cache_dir, runs);
    if (part == 0 || part == 3)
        scaling(norm, &gen, &c, &list, quick ? 1 : (runs + 1) / 2);

    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_match: could not remove %s\n", cache_dir);
    tdx_buf_free(&list);
    tdx_buf_free(&c.text);
    free(c.doc_off);
    tdx_buf_free(&gen.text);
    free(gen.off);
    tdx_norm_free(norm);
    return 0;
}
